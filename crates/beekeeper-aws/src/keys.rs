//! The room's pass keys on AWS: a SecureString parameter
//! ([`beekeeper_core::names::pass_keys_parameter`]) holding the
//! [`KeyRing`]. The deployer makes it; `beekeeper rotate-key` adds a key;
//! only the producer and the consumer roles may read it (they sign), and
//! nothing ever logs it.
//!
//! A container keeps the signer for [`KEYS_TTL`]: a rotation reaches every
//! signer within that, and the key it replaced stays published long after.

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_ssm::types::ParameterType;
use beekeeper_core::pass::{KeyRing, Signer};

use crate::producer::Cached;
use crate::{AwsError, Result};

/// How long a container signs with the key it read.
pub const KEYS_TTL: Duration = Duration::from_secs(60);

/// Reads the ring.
pub async fn load(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<KeyRing> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| AwsError::call(format!("read the pass keys {name}"), e))?;
    let json = out
        .parameter()
        .and_then(|p| p.value())
        .ok_or_else(|| AwsError::BadKeys(format!("{name} has no value")))?;
    KeyRing::from_json(json).map_err(|e| AwsError::BadKeys(format!("{name}: {e}")))
}

/// Writes the ring over the parameter (it exists: the deployer made it
/// with its tags).
pub async fn save(ssm: &aws_sdk_ssm::Client, name: &str, ring: &KeyRing) -> Result<()> {
    ssm.put_parameter()
        .name(name)
        .value(ring.to_json())
        .r#type(ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(|e| AwsError::call(format!("write the pass keys {name}"), e))?;
    Ok(())
}

/// A container's signer, read from the parameter at most once per
/// [`KEYS_TTL`].
pub struct Keys {
    ssm: aws_sdk_ssm::Client,
    name: Option<String>,
    signer: Cached<Arc<Signer>>,
}

impl Keys {
    pub fn new(ssm: aws_sdk_ssm::Client, name: Option<String>) -> Keys {
        Keys {
            ssm,
            name,
            signer: Cached::new(KEYS_TTL),
        }
    }

    pub async fn signer(&self) -> Result<Arc<Signer>> {
        let name = self
            .name
            .as_deref()
            .ok_or(AwsError::Env(beekeeper_core::names::env::PASS_KEYS))?;
        let (signer, _) = self
            .signer
            .get(|| async {
                let ring = load(&self.ssm, name).await?;
                let signer = ring
                    .signer()
                    .map_err(|e| AwsError::BadKeys(format!("{name}: {e}")))?;
                Ok(Arc::new(signer))
            })
            .await?;
        Ok(signer)
    }
}
