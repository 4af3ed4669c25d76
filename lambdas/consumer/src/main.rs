//! The consumer Lambda: admit the trigger's quota from the queue, paced.

use beekeeper_aws::consumer::Consumer;
use beekeeper_aws::ConsumerOrder;
use beekeeper_aws::Env;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let consumer = Consumer::new(&beekeeper_aws::sdk_config().await, Env::from_env()?);
    let consumer = &consumer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ConsumerOrder>| async move {
            let report = consumer.run(event.payload).await?;
            tracing::info!(
                admitted = report.admitted,
                duplicates = report.duplicates,
                left = report.left,
                "consumer done"
            );
            Ok::<_, Error>(report)
        },
    ))
    .await
}
