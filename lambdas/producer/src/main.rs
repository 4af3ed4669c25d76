//! The producer Lambda: `GET /beekeeper` behind API Gateway's Lambda proxy.

use aws_lambda_events::apigw::ApiGatewayProxyRequest;
use beekeeper_aws::producer::Producer;
use beekeeper_aws::Env;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let producer = Producer::new(&beekeeper_aws::sdk_config().await, Env::from_env()?);
    let producer = &producer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayProxyRequest>| async move {
            Ok::<_, Error>(producer.handle(&event.payload).await)
        },
    ))
    .await
}
