//! Embedded Metric Format: the JSON log lines that CloudWatch Logs turns into metrics
//! (the EMF specification in the CloudWatch user guide). The stand-in does the same with
//! what its functions print.

use serde_json::Value;

use super::SeriesKey;

/// One metric value an EMF line carries.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Datum {
    pub(crate) key: SeriesKey,
    /// Epoch milliseconds (`_aws.Timestamp`).
    pub(crate) timestamp_ms: u64,
    pub(crate) values: Vec<f64>,
}

/// The metric values of `line`, if it is an EMF record; nothing for any other line, and
/// nothing for the parts of a record that do not follow the specification (as CloudWatch
/// Logs drops them).
pub(crate) fn parse(line: &str) -> Vec<Datum> {
    let line = line.trim();
    // Cheap tests first: most lines of most functions are not EMF.
    if !line.starts_with('{') || !line.contains("\"_aws\"") {
        return Vec::new();
    }
    let Ok(record) = serde_json::from_str::<Value>(line) else {
        return Vec::new();
    };
    let Some(timestamp_ms) = record["_aws"]["Timestamp"].as_u64() else {
        return Vec::new();
    };
    let Some(directives) = record["_aws"]["CloudWatchMetrics"].as_array() else {
        return Vec::new();
    };
    let mut data = Vec::new();
    for directive in directives {
        let Some(namespace) = directive["Namespace"].as_str() else {
            continue;
        };
        let sets: Vec<Vec<(String, String)>> = match directive["Dimensions"].as_array() {
            Some(sets) if !sets.is_empty() => sets
                .iter()
                .filter_map(|set| dimensions(&record, set))
                .collect(),
            // No dimension set: the metric without dimensions.
            _ => vec![Vec::new()],
        };
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let Some(name) = metric["Name"].as_str() else {
                continue;
            };
            let values = values(&record[name]);
            if values.is_empty() {
                continue;
            }
            for set in &sets {
                data.push(Datum {
                    key: SeriesKey::new(namespace, name, set.clone()),
                    timestamp_ms,
                    values: values.clone(),
                });
            }
        }
    }
    data
}

/// A dimension set's names with their values from the record; `None` when one is missing
/// or not a string.
fn dimensions(record: &Value, set: &Value) -> Option<Vec<(String, String)>> {
    set.as_array()?
        .iter()
        .map(|name| {
            let name = name.as_str()?;
            Some((name.to_owned(), record[name].as_str()?.to_owned()))
        })
        .collect()
}

fn values(value: &Value) -> Vec<f64> {
    match value {
        Value::Number(n) => n.as_f64().into_iter().collect(),
        Value::Array(items) => items.iter().filter_map(Value::as_f64).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emf_record_gives_one_datum_per_metric_and_dimension_set() {
        let line = r#"{"_aws":{"Timestamp":1700000000123,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Service"],["Service","Version"]],"Metrics":[{"Name":"Orders","Unit":"Count"},{"Name":"Latency"}]}]},"Service":"checkout","Version":"4","Orders":2,"Latency":[10,20]}"#;
        let data = parse(line);
        assert_eq!(data.len(), 4);
        assert_eq!(
            data[0].key,
            SeriesKey::new(
                "Shop",
                "Orders",
                vec![("Service".into(), "checkout".into())]
            )
        );
        assert_eq!(data[0].values, [2.0]);
        assert_eq!(data[0].timestamp_ms, 1_700_000_000_123);
        assert_eq!(data[3].values, [10.0, 20.0]);
        assert_eq!(data[3].key.dimensions.len(), 2);
    }

    #[test]
    fn other_lines_and_broken_records_give_nothing() {
        for line in [
            "START RequestId: 1",
            r#"{"message": "hello"}"#,
            r#"{"_aws": {"CloudWatchMetrics": []}}"#,
            r#"{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Dimensions": [["Missing"]], "Metrics": [{"Name": "M"}]}]}, "M": 1}"#,
            r#"{"_aws": {"Timestamp": 1, "CloudWatchMetrics": [{"Namespace": "N", "Metrics": [{"Name": "M"}]}]}, "M": "one"}"#,
        ] {
            assert_eq!(parse(line), [], "{line}");
        }
    }
}
