//! Who signed a request: a key the stand-in issued is checked by signing the request again
//! with its secret (the SDK's own signer, `aws-sigv4`) and comparing signatures; anything
//! else is the person at the keyboard.
//!
//! Not checked (what AWS also refuses): a signature more than 15 minutes old
//! (`RequestExpired` on the Common Errors pages); presigned URLs (query-string signatures);
//! SigV4a.

use std::sync::Arc;
use std::time::SystemTime;

use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::request::Parts;

use super::authority::Authority;
use super::role::Caller;

/// A request signed with a key the stand-in issued whose signature does not hold.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is not the one the issued secret gives.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    Mismatch,
    /// The session token is not the one issued with the key.
    #[error("The security token included in the request is invalid.")]
    BadToken,
    /// The `Authorization` header, or `X-Amz-Date`, cannot be read.
    #[error("The request signature does not conform to AWS standards: {0}")]
    Incomplete(&'static str),
}

/// The parts of an `AWS4-HMAC-SHA256` `Authorization` header.
struct Authorization<'a> {
    key: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

impl<'a> Authorization<'a> {
    fn parse(header: &'a str) -> Option<Authorization<'a>> {
        let rest = header.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            if let Some(v) = part.strip_prefix("Credential=") {
                credential = Some(v);
            } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
                signed = Some(v);
            } else if let Some(v) = part.strip_prefix("Signature=") {
                signature = Some(v);
            }
        }
        let mut scope = credential?.split('/');
        let key = scope.next()?;
        let _date = scope.next()?;
        Some(Authorization {
            key,
            region: scope.next()?,
            service: scope.next()?,
            signed_headers: signed?.split(';').collect(),
            signature: signature?,
        })
    }
}

/// Who made the request: the role whose issued key signed it, the signature verified, or
/// the person at the keyboard.
///
/// # Errors
/// [`SignatureError`] for a key the stand-in issued with a signature that does not hold.
pub(crate) fn caller_of(
    authority: &Authority,
    parts: &Parts,
    body: &[u8],
) -> Result<Caller, SignatureError> {
    let Some(header) = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(Caller::Keyboard);
    };
    let Some(auth) = Authorization::parse(header) else {
        return Ok(Caller::Keyboard);
    };
    let Some(issued) = authority.issued(auth.key) else {
        return Ok(Caller::Keyboard);
    };
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    if header("x-amz-security-token") != Some(issued.session_token.as_str()) {
        return Err(SignatureError::BadToken);
    }
    let time = header("x-amz-date")
        .and_then(parse_amz_date)
        .ok_or(SignatureError::Incomplete(
            "X-Amz-Date is missing or not YYYYMMDDTHHMMSSZ",
        ))?;
    let expected = signature(
        &auth,
        parts,
        body,
        &issued.secret,
        &issued.session_token,
        time,
    )?;
    if expected == auth.signature {
        Ok(Caller::Role(Arc::clone(&issued.principal)))
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The signature the secret gives the request, over the headers it says it signed.
fn signature(
    auth: &Authorization<'_>,
    parts: &Parts,
    body: &[u8],
    secret: &str,
    token: &str,
    time: SystemTime,
) -> Result<String, SignatureError> {
    // The signer adds X-Amz-Date and the session token itself, from its parameters.
    let added = ["x-amz-date", "x-amz-security-token"];
    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in auth.signed_headers.iter().filter(|n| !added.contains(n)) {
        let value = parts
            .headers
            .get(*name)
            .and_then(|v| v.to_str().ok())
            .ok_or(SignatureError::Incomplete("a signed header is missing"))?;
        headers.push((*name, value));
    }
    let host = headers
        .iter()
        .find(|(n, _)| *n == "host")
        .map(|(_, v)| *v)
        .ok_or(SignatureError::Incomplete("the host header is not signed"))?;
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = format!("http://{host}{path}");
    let request = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| SignatureError::Incomplete("the request cannot be signed again"))?;
    let token = auth
        .signed_headers
        .contains(&"x-amz-security-token")
        .then(|| token.to_owned());
    let identity =
        aws_credential_types::Credentials::new(auth.key, secret, token, None, "codedeploy-local")
            .into();
    let mut settings = SigningSettings::default();
    // Sign exactly what the caller signed: its list, not the signer's defaults.
    settings.excluded_headers = None;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(time)
        .settings(settings)
        .build()
        .map_err(|_| SignatureError::Incomplete("the credential scope cannot be read"))?
        .into();
    let output = sign(request, &params)
        .map_err(|_| SignatureError::Incomplete("the request cannot be signed again"))?;
    Ok(output.signature().to_owned())
}

/// `20261207T101500Z`.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let part = text.get(range)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    if text.len() != 16 || &text[8..9] != "T" || &text[15..] != "Z" {
        return None;
    }
    let month = time::Month::try_from(u8::try_from(digits(4..6)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(
        i32::try_from(digits(0..4)?).ok()?,
        month,
        u8::try_from(digits(6..8)?).ok()?,
    )
    .ok()?;
    let at = date
        .with_hms(
            u8::try_from(digits(9..11)?).ok()?,
            u8::try_from(digits(11..13)?).ok()?,
            u8::try_from(digits(13..15)?).ok()?,
        )
        .ok()?;
    Some(at.assume_utc().into())
}

#[cfg(test)]
mod tests {
    use super::parse_amz_date;

    #[test]
    fn amz_dates_are_read_and_others_refused() {
        let at = parse_amz_date("20261207T101500Z").expect("a date");
        let seconds = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(seconds, 1_796_638_500);
        for bad in [
            "",
            "20261207T101500",
            "2026-12-07T10:15:00Z",
            "20261307T101500Z",
            "2026120xT101500Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
