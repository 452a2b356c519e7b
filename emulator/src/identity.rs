//! STUB — owned by the ARM/identity helper. Managed-identity token endpoint and token checks.

#[derive(Default)]
pub struct TokenIssuer {}

pub fn random_secret() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", rng.random::<u8>() & 0xf))
        .collect()
}
