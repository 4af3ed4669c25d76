//! The dynamic rate throttle Lambda: every minute (EventBridge), probe the
//! destination and set the room's current rate.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use beekeeper_aws::throttle::Throttle;
use beekeeper_aws::CONFIG_TABLE_ENV as CONFIG_TABLE;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let table = std::env::var(CONFIG_TABLE).map_err(|_| format!("{CONFIG_TABLE} is not set"))?;
    let throttle = Throttle::new(&beekeeper_aws::sdk_config().await, table)?;
    let throttle = &throttle;
    lambda_runtime::run(service_fn(move |_: LambdaEvent<EventBridgeEvent>| async move {
        let report = throttle.run_minute().await?;
        if let Some(d) = &report.decision {
            tracing::info!(verdict = ?d.verdict, median_ms = ?d.median_ms, failed = d.failed, rate = d.rate, applied = report.applied, "throttle");
        }
        Ok::<_, Error>(report)
    }))
    .await
}
