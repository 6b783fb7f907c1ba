//! The JWT header check every token gets before a key is chosen: any text is a header with a
//! key id or a refusal, never a panic; a header written with any parameters is accepted
//! exactly when it names a key id and no key-locating parameter, and the key id comes back.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bookstore_auth::checked_header;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

const ALGORITHMS: [&str; 6] = ["EdDSA", "RS256", "ES256", "HS256", "none", "PS512"];
/// Token types an access token may carry.
const TYPES: [&str; 2] = ["JWT", "at+jwt"];
const KEY_LOCATING: [&str; 4] = ["jku", "x5u", "jwk", "x5c"];

#[derive(Debug, Arbitrary)]
enum Input {
    /// A token as sent.
    Raw(String),
    /// A header whose JSON the fuzzer writes (the base64 around it would hide it).
    Json(String),
    /// A header built from parameters.
    Built {
        alg: u8,
        kid: Option<String>,
        /// None, or one of [`TYPES`].
        typ: Option<u8>,
        /// Which of the key-locating parameters are present (bits).
        key_locating: u8,
        extra: Vec<(String, String)>,
    },
}

fn token(header: &[u8]) -> String {
    format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(header))
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    match input {
        Input::Raw(raw) => {
            let _ = checked_header(&raw);
        }
        Input::Json(json) => {
            if let Ok((header, kid)) = checked_header(&token(json.as_bytes())) {
                assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
                assert!(header.jku.is_none() && header.x5u.is_none());
                assert!(header.jwk.is_none() && header.x5c.is_none());
            }
        }
        Input::Built {
            alg,
            kid,
            typ,
            key_locating,
            extra,
        } => {
            let mut header = Map::new();
            // Extra parameters first: the ones that matter are written over them.
            for (name, value) in extra {
                header.insert(name, Value::String(value));
            }
            let alg = ALGORITHMS[usize::from(alg) % ALGORITHMS.len()];
            header.insert("alg".into(), alg.into());
            for name in KEY_LOCATING {
                header.remove(name);
            }
            header.remove("kid");
            header.remove("typ");
            header.remove("cty");
            header.remove("x5t");
            header.remove("x5t#S256");
            header.remove("crit");
            if let Some(kid) = &kid {
                header.insert("kid".into(), kid.as_str().into());
            }
            if let Some(typ) = typ {
                header.insert("typ".into(), TYPES[usize::from(typ) % TYPES.len()].into());
            }
            let locating = KEY_LOCATING
                .iter()
                .enumerate()
                .filter(|(i, _)| key_locating & (1 << i) != 0)
                .map(|(_, name)| *name)
                .collect::<Vec<_>>();
            for name in &locating {
                let value = match *name {
                    "jwk" => serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": "AA"}),
                    "x5c" => serde_json::json!(["MIIB"]),
                    _ => Value::String("https://attacker.example/keys".into()),
                };
                header.insert((*name).into(), value);
            }
            let json = serde_json::to_vec(&Value::Object(header)).unwrap_or_default();
            let result = checked_header(&token(&json));
            match (&kid, locating.is_empty()) {
                (Some(kid), true) if alg != "none" => match result {
                    Ok((_, got)) => assert_eq!(&got, kid),
                    Err(e) => panic!("refused a plain header with kid {kid:?}: {e}"),
                },
                _ => assert!(
                    result.is_err(),
                    "accepted {:?}",
                    String::from_utf8_lossy(&json)
                ),
            }
        }
    }
});
