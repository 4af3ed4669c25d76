//! The AWS clients of one deploy, all recording into one [`CallLog`].

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::interceptors::SharedInterceptor;

use crate::calls::CallLog;

pub struct Clients {
    pub iam: aws_sdk_iam::Client,
    pub s3: aws_sdk_s3::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub logs: aws_sdk_cloudwatchlogs::Client,
    pub api: aws_sdk_apigateway::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub sts: aws_sdk_sts::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub log: CallLog,
}

impl Clients {
    pub fn new(sdk: &SdkConfig, log: CallLog) -> Clients {
        let i = SharedInterceptor::new(log.clone());
        macro_rules! client {
            ($krate:ident $(, $extra:ident)?) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(sdk)
                        .interceptor(i.clone())
                        $(.$extra(true))?
                        .build(),
                )
            };
        }
        Clients {
            iam: client!(aws_sdk_iam),
            // Path-style addressing works with every endpoint, emulators included.
            s3: client!(aws_sdk_s3, force_path_style),
            sqs: client!(aws_sdk_sqs),
            ddb: client!(aws_sdk_dynamodb),
            lambda: client!(aws_sdk_lambda),
            logs: client!(aws_sdk_cloudwatchlogs),
            api: client!(aws_sdk_apigateway),
            events: client!(aws_sdk_eventbridge),
            sts: client!(aws_sdk_sts),
            ssm: client!(aws_sdk_ssm),
            log,
        }
    }
}

/// The SDK configuration for the CLI: the standard credential chain, the
/// named AWS profile if any, the profile's region, and the endpoint override
/// if any (`AWS_ENDPOINT_URL` is read by the SDK itself).
pub async fn sdk_config(
    region: &str,
    aws_profile: Option<&str>,
    endpoint_url: Option<&str>,
) -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(6));
    if let Some(p) = aws_profile {
        loader = loader.profile_name(p);
    }
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}
