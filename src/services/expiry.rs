//! Expiries as people write them, for licenses and publisher tokens: a duration from now
//! (`365d`, `12h`, `90m`, `30s`) or a date (`2027-01-31`, UTC midnight). The pages' forms
//! take the same text as `rbee-registry license issue --expires`.

use super::licenses::CredentialError;

/// Unix seconds of the expiry `text`, counting a duration from `now_secs`.
pub fn expiry_secs(text: &str, now_secs: i64) -> Result<i64, CredentialError> {
    let text = text.trim();
    let invalid = || {
        CredentialError::Invalid(format!(
            "invalid expiry {text:?}: use a duration (365d, 12h) or a date (2027-01-31)"
        ))
    };
    if text.is_empty() {
        return Err(invalid());
    }
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if !number.is_empty() {
        let seconds: Option<i64> = match unit {
            "" | "s" => Some(1),
            "m" => Some(60),
            "h" => Some(3600),
            "d" => Some(86_400),
            _ => None,
        };
        if let Some(seconds) = seconds {
            return number
                .parse::<i64>()
                .ok()
                .and_then(|n| n.checked_mul(seconds))
                .and_then(|s| s.checked_add(now_secs))
                .ok_or_else(invalid);
        }
    }
    let parts: Vec<&str> = text.split('-').collect();
    if let [year, month, day] = parts[..] {
        if let (Ok(year), Ok(month), Ok(day)) = (year.parse::<i32>(), month.parse::<u8>(), day.parse::<u8>()) {
            let month = time::Month::try_from(month).map_err(|_| invalid())?;
            let date = time::Date::from_calendar_date(year, month, day).map_err(|_| invalid())?;
            return Ok(date.midnight().assume_utc().unix_timestamp());
        }
    }
    Err(invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_dates() {
        assert_eq!(expiry_secs("2027-01-31", 0).unwrap(), 1_801_353_600);
        assert_eq!(expiry_secs("30d", 100).unwrap(), 100 + 30 * 86_400);
        assert_eq!(expiry_secs(" 12h ", 0).unwrap(), 12 * 3600);
        for bad in ["", "soon", "2027-02-30", "12y", "-5d", "99999999999999999999d"] {
            assert!(expiry_secs(bad, 0).is_err(), "{bad}");
        }
    }
}
