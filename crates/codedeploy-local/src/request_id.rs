//! Request ids, as AWS makes them.

/// A request id in Lambda's format (a v4-style UUID).
pub(crate) fn new_request_id() -> String {
    let a = fastrand::u128(..);
    let hex = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
