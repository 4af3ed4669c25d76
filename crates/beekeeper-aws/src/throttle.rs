//! The dynamic-rate-throttle Lambda: every minute, probe the destination,
//! ask the core's controller, and write the new current rate to the room
//! config item (where the producer and the trigger read it).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use beekeeper_core::names::config as c;
use beekeeper_core::throttle::{decide, rate_to_store, Decision, State};
use beekeeper_probe::Prober;

use crate::{room, AwsError, Result};

/// How long the probes of one invocation are spread over: most of the
/// minute, leaving time to decide before the next schedule.
pub const WINDOW: Duration = Duration::from_secs(50);

pub struct Throttle {
    ddb: aws_sdk_dynamodb::Client,
    config_table: String,
    prober: Prober,
    window: Duration,
}

/// What one minute's throttle did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// None when the throttle is disabled or the room is off.
    pub decision: Option<Decision>,
    /// False when set-rate changed the rates while probing (the user wins).
    pub applied: bool,
}

impl Throttle {
    pub fn new(sdk: &aws_config::SdkConfig, config_table: String) -> Result<Throttle> {
        Ok(Throttle {
            ddb: aws_sdk_dynamodb::Client::new(sdk),
            config_table,
            prober: Prober::new().map_err(|e| AwsError::Probe(e.to_string()))?,
            window: WINDOW,
        })
    }

    /// Spreads the probes over `window` instead of [`WINDOW`].
    pub fn with_window(self, window: Duration) -> Throttle {
        Throttle { window, ..self }
    }

    pub async fn run_minute(&self) -> Result<Report> {
        let seen = room::load_config(&self.ddb, &self.config_table).await?;
        if !seen.dynamic_throttle || !seen.enabled {
            return Ok(Report {
                decision: None,
                applied: false,
            });
        }
        let probes = self.prober.minute(seen.probe_target(), self.window).await;
        let state = self.state().await?;
        let d = decide(&probes, &state, seen.rate_current, seen.rate_limit);
        let applied = match rate_to_store(&seen, &seen, d.rate) {
            Some(rate) => self.set_rate(&seen, rate).await?,
            None => true,
        };
        self.save(&d).await?;
        Ok(Report {
            decision: Some(d),
            applied,
        })
    }

    fn key() -> (String, AttributeValue) {
        (
            c::KEY.to_string(),
            AttributeValue::S(c::THROTTLE_ID.to_string()),
        )
    }

    async fn state(&self) -> Result<State> {
        let (k, v) = Throttle::key();
        let out = self
            .ddb
            .get_item()
            .table_name(&self.config_table)
            .key(k, v)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AwsError::sdk("read the throttle's state", e))?;
        Ok(out
            .item()
            .map(|i| room::throttle_from_item(i).0)
            .unwrap_or_default())
    }

    /// Writes the new current rate only if the rates are still those the
    /// decision was made from ([`rate_to_store`], checked by DynamoDB).
    async fn set_rate(&self, seen: &beekeeper_core::RoomConfig, rate: u32) -> Result<bool> {
        let n = |v: u32| AttributeValue::N(v.to_string());
        let out = self
            .ddb
            .update_item()
            .table_name(&self.config_table)
            .key(c::KEY, AttributeValue::S(c::ID.to_string()))
            .update_expression("SET #cur = :new")
            .condition_expression("#lim = :lim AND #cur = :cur")
            .expression_attribute_names("#cur", c::RATE_CURRENT)
            .expression_attribute_names("#lim", c::RATE_LIMIT)
            .expression_attribute_values(":new", n(rate))
            .expression_attribute_values(":lim", n(seen.rate_limit))
            .expression_attribute_values(":cur", n(seen.rate_current))
            .send()
            .await;
        match out {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(AwsError::sdk("write the current rate", e)),
        }
    }

    async fn save(&self, d: &Decision) -> Result<()> {
        let json = |v: &dyn erased::Json| AttributeValue::S(v.json());
        let (k, v) = Throttle::key();
        self.ddb
            .put_item()
            .table_name(&self.config_table)
            .item(k, v)
            .item(c::THROTTLE_STATE, json(&d.state))
            .item(c::THROTTLE_LAST, json(d))
            .send()
            .await
            .map_err(|e| AwsError::sdk("write the throttle's state", e))?;
        Ok(())
    }
}

mod erased {
    pub trait Json {
        fn json(&self) -> String;
    }

    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}
