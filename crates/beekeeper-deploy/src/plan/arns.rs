//! ARNs and URLs.

/// ARNs and URLs in one region and account: the one place that spells
/// them, partition and domain included.
#[derive(Debug, Clone, Copy)]
pub struct Arns<'a> {
    pub region: &'a str,
    pub account: &'a str,
}

impl Arns<'_> {
    /// The AWS partition of the region (`aws`, `aws-cn`, `aws-us-gov`).
    pub fn partition(&self) -> &'static str {
        if self.region.starts_with("cn-") {
            "aws-cn"
        } else if self.region.starts_with("us-gov-") {
            "aws-us-gov"
        } else {
            "aws"
        }
    }

    /// The domain of the region's endpoints.
    fn domain(&self) -> &'static str {
        if self.partition() == "aws-cn" {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        }
    }

    pub fn of(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:{}:{service}:{}:{}:{resource}",
            self.partition(),
            self.region,
            self.account
        )
    }

    pub fn table(&self, name: &str) -> String {
        self.of("dynamodb", &format!("table/{name}"))
    }

    pub fn function(&self, name: &str) -> String {
        self.of("lambda", &format!("function:{name}"))
    }

    pub fn rule(&self, name: &str) -> String {
        self.of("events", &format!("rule/{name}"))
    }

    pub fn role(&self, name: &str) -> String {
        format!("arn:{}:iam::{}:role/{name}", self.partition(), self.account)
    }

    /// Every object of a bucket (bucket ARNs name neither region nor account).
    pub fn bucket_objects(&self, bucket: &str) -> String {
        format!("arn:{}:s3:::{bucket}/*", self.partition())
    }

    /// A REST API, as its tags are addressed.
    pub fn rest_api(&self, api_id: &str) -> String {
        format!(
            "arn:{}:apigateway:{}::/restapis/{api_id}",
            self.partition(),
            self.region
        )
    }

    /// What API Gateway may invoke: `GET /beekeeper` of this API, any stage.
    pub fn api_route(&self, api_id: &str, method: &str, path: &str) -> String {
        self.of("execute-api", &format!("{api_id}/*/{method}{path}"))
    }

    /// The integration URI of a Lambda proxy.
    pub fn lambda_integration(&self, function: &str) -> String {
        format!(
            "arn:{}:apigateway:{}:lambda:path/2015-03-31/functions/{}/invocations",
            self.partition(),
            self.region,
            self.function(function)
        )
    }

    pub fn service_integration(&self, service: &str, path: &str) -> String {
        format!(
            "arn:{}:apigateway:{}:{service}:{path}",
            self.partition(),
            self.region
        )
    }

    /// The URL a stage of an API serves at.
    pub fn stage_url(&self, api_id: &str, stage: &str) -> String {
        format!(
            "https://{api_id}.execute-api.{}.{}/{stage}",
            self.region,
            self.domain()
        )
    }

    /// The URL SQS gives a queue of this account.
    pub fn queue_url(&self, queue: &str) -> String {
        format!(
            "https://sqs.{}.{}/{}/{queue}",
            self.region,
            self.domain(),
            self.account
        )
    }
}
