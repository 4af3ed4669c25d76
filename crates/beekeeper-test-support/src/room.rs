//! One room's data plane laid out in moto the way the deployer lays it
//! out, and what the tests do to it directly.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_sqs::types::QueueAttributeName;
use beekeeper_aws::Env;
use beekeeper_core::names::{config, resource_name, tokens};
use beekeeper_core::RoomConfig;

use crate::moto::Moto;

async fn table(ddb: &aws_sdk_dynamodb::Client, name: &str, key: &str) {
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// The pass keys of a test room laid out by [`create_room`]: one fixed key.
pub fn test_ring(profile: &str) -> beekeeper_core::pass::KeyRing {
    beekeeper_core::pass::KeyRing::new(
        &format!("https://{profile}.room.test/live"),
        profile,
        [7; 32],
        0,
    )
}

/// Queue (with its dead-letter queue), tokens table, config table and the
/// pass keys' parameter ([`test_ring`]).
pub async fn create_room(sdk: &aws_config::SdkConfig, profile: &str, cfg: &RoomConfig) -> Env {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let tokens_table = resource_name(profile, "tokens");
    let config_table = resource_name(profile, "config");
    table(&ddb, &tokens_table, tokens::KEY).await;
    table(&ddb, &config_table, config::KEY).await;
    let dlq = sqs
        .create_queue()
        .queue_name(resource_name(profile, "dlq"))
        .send()
        .await
        .unwrap();
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(dlq.queue_url().unwrap())
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    let queue = sqs
        .create_queue()
        .queue_name(resource_name(profile, "queue"))
        .attributes(
            QueueAttributeName::RedrivePolicy,
            format!(r#"{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"5"}}"#),
        )
        .send()
        .await
        .unwrap();
    beekeeper_aws::room::save_config(&ddb, &config_table, cfg)
        .await
        .unwrap();
    let pass_keys = beekeeper_core::names::pass_keys_parameter(profile);
    aws_sdk_ssm::Client::new(sdk)
        .put_parameter()
        .name(&pass_keys)
        .value(test_ring(profile).to_json())
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .send()
        .await
        .unwrap();
    Env {
        queue_url: queue.queue_url().unwrap().to_string(),
        tokens_table,
        config_table,
        consumer_function: Some(resource_name(profile, "consumer")),
        pass_keys: Some(pass_keys),
    }
}

/// A fresh emulator holding one room (profile "shop") with `cfg`.
pub async fn with_room(cfg: &RoomConfig) -> (Moto, aws_config::SdkConfig, Env) {
    let moto = Moto::start();
    let sdk = moto.sdk("us-east-1", true).await;
    let env = create_room(&sdk, "shop", cfg).await;
    (moto, sdk, env)
}

/// Writes the room config item, as `off`, `on` and `set-rate` do.
pub async fn save_config(sdk: &aws_config::SdkConfig, env: &Env, cfg: &RoomConfig) {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    beekeeper_aws::room::save_config(&ddb, &env.config_table, cfg)
        .await
        .unwrap();
}

/// Puts `n` visitors in line directly (10 per batch call).
pub async fn enqueue(sdk: &aws_config::SdkConfig, env: &Env, n: usize) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut tokens = Vec::new();
    for chunk in (0..n).collect::<Vec<_>>().chunks(10) {
        let entries = chunk.iter().map(|&i| {
            let mut bytes = [0u8; 16];
            bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
            bytes[8] = 0xbe;
            let token = beekeeper_core::Token::from_random(bytes);
            tokens.push(token.to_string());
            let body = serde_json::to_string(&beekeeper_core::entry::QueueMessage { token, at: 0 })
                .unwrap();
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(body)
                .build()
                .unwrap()
        });
        sqs.send_message_batch()
            .queue_url(&env.queue_url)
            .set_entries(Some(entries.collect()))
            .send()
            .await
            .unwrap();
    }
    tokens
}

pub async fn depth(sdk: &aws_config::SdkConfig, env: &Env) -> u64 {
    beekeeper_aws::producer::queue_depth(&aws_sdk_sqs::Client::new(sdk), &env.queue_url)
        .await
        .unwrap()
}
