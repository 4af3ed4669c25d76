//! The trigger Lambda: every minute (EventBridge), start this minute's consumers.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use beekeeper_aws::trigger::Trigger;
use beekeeper_aws::Env;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let trigger = Trigger::new(&beekeeper_aws::sdk_config().await, Env::from_env()?);
    let trigger = &trigger;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent>| async move {
            let report = trigger.handle(&event.payload).await?;
            tracing::info!(
                rate = report.rate,
                consumers = report.orders.len(),
                failed = report.failed_invokes,
                "minute planned"
            );
            Ok::<_, Error>(report)
        },
    ))
    .await
}
