//! SCIM tokens: `<prefix>_<region>_<random>`, so secret scanners can recognise a leaked token and
//! a gateway can tell its region without a lookup. Only the SHA-256 fingerprint is stored.

use base64::Engine;
use rand::RngCore;
use secrecy::SecretString;

use sha2::{Digest, Sha256};

/// The hex SHA-256 of a token: what is stored, and what a presented token is looked up by.
pub fn fingerprint(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A new token: 32 random bytes from a CSPRNG seeded by the OS, base64url.
pub fn generate(prefix: &str, region: &str) -> SecretString {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let random = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    SecretString::from(format!("{prefix}_{region}_{random}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_have_the_documented_shape_and_differ() {
        let a = generate("scim", "eu");
        let b = generate("scim", "eu");
        assert!(a.expose_secret().starts_with("scim_eu_"));
        assert_eq!(a.expose_secret().len(), "scim_eu_".len() + 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(fingerprint(a.expose_secret()).len(), 64);
    }
}
