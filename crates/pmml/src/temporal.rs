//! Dates and times as numbers: a `date` is the count of days since 1970-01-01, a `dateTime` the
//! seconds since 1970-01-01T00:00:00, a `time` the seconds since midnight; the `dateDaysSince[Y]`,
//! `dateTimeSecondsSince[Y]` and `timeSeconds` types count from their own origin. Texts are read
//! in the ISO 8601 forms JPMML reads (`2003-04-01`, `2003-04-01T05:23:30`, `05:23:30`), without
//! time zones.

/// Seconds in a day.
pub const DAY: f64 = 86_400.0;

/// The days from 1970-01-01 to the given day of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The days from 1970-01-01 to January 1st of `year`.
pub fn year_start(year: i64) -> i64 {
    days_from_civil(year, 1, 1)
}

/// `text` without leading and trailing white space (no scan when it starts and ends with ASCII
/// that is not white space, the usual case).
#[inline]
fn trimmed(text: &str) -> &str {
    match text.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

/// `x.floor()` without a call into libm for the numbers dates and times give (whole numbers of
/// days or seconds, below 2^52 in size).
#[inline]
pub fn floor(x: f64) -> f64 {
    if x != 0.0 && x.abs() < 4.0e15 {
        let truncated = x as i64 as f64;
        if truncated > x {
            truncated - 1.0
        } else {
            truncated
        }
    } else {
        x.floor()
    }
}

/// The value of the ASCII digits `bytes` (all of them digits), or `None`.
#[inline]
fn fixed_digits(bytes: &[u8]) -> Option<i64> {
    let mut value = 0;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

/// `YYYY-MM-DD` exactly (the common form, read without splitting): (year, month, day).
#[inline]
fn fixed_date(bytes: &[u8]) -> Option<(i64, i64, i64)> {
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    Some((
        fixed_digits(&bytes[..4])?,
        fixed_digits(&bytes[5..7])?,
        fixed_digits(&bytes[8..])?,
    ))
}

/// `HH:MM:SS` exactly (the common form): seconds since midnight, unchecked.
#[inline]
fn fixed_time(bytes: &[u8]) -> Option<(i64, i64, i64)> {
    if bytes.len() != 8 || bytes[2] != b':' || bytes[5] != b':' {
        return None;
    }
    Some((
        fixed_digits(&bytes[..2])?,
        fixed_digits(&bytes[3..5])?,
        fixed_digits(&bytes[6..])?,
    ))
}

/// Reads `YYYY-MM-DD` (a leading `-` for years before 0): days since 1970-01-01.
pub fn parse_date(text: &str) -> Option<f64> {
    let text = trimmed(text);
    if let Some((year, month, day)) = fixed_date(text.as_bytes()) {
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return None;
        }
        return Some(days_from_civil(year, month, day) as f64);
    }
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut parts = rest.splitn(3, '-');
    let year: i64 = digits(parts.next()?, 4, 9)?;
    let month: i64 = digits(parts.next()?, 2, 2)?;
    let day: i64 = digits(parts.next()?, 2, 2)?;
    let year = if negative { -year } else { year };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) as f64)
}

/// Reads `HH:MM:SS` (or `HH:MM`, with an optional fraction of a second): seconds since midnight.
pub fn parse_time(text: &str) -> Option<f64> {
    let text = trimmed(text);
    if let Some((hours, minutes, seconds)) = fixed_time(text.as_bytes()) {
        if hours > 23 || minutes > 59 || seconds > 59 {
            return None;
        }
        return Some((hours * 3600 + minutes * 60 + seconds) as f64);
    }
    let mut parts = text.splitn(3, ':');
    let hours: i64 = digits(parts.next()?, 2, 2)?;
    let minutes: i64 = digits(parts.next()?, 2, 2)?;
    let seconds = match parts.next() {
        None => 0.0,
        Some(seconds) => {
            let (whole, fraction) = seconds.split_once('.').unwrap_or((seconds, ""));
            let whole: i64 = digits(whole, 2, 2)?;
            if !fraction.chars().all(|c| c.is_ascii_digit()) || whole > 59 {
                return None;
            }
            whole as f64
        }
    };
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some((hours * 3600 + minutes * 60) as f64 + seconds)
}

/// Reads `YYYY-MM-DDTHH:MM:SS`: seconds since 1970-01-01T00:00:00.
pub fn parse_date_time(text: &str) -> Option<f64> {
    let text = trimmed(text);
    let bytes = text.as_bytes();
    if bytes.len() == 19 && bytes[10] == b'T' {
        if let (Some(date), Some(time)) = (fixed_date(&bytes[..10]), fixed_time(&bytes[11..])) {
            let (year, month, day) = date;
            let (hours, minutes, seconds) = time;
            if !(1..=12).contains(&month)
                || day < 1
                || day > days_in_month(year, month)
                || hours > 23
                || minutes > 59
                || seconds > 59
            {
                return None;
            }
            let days = days_from_civil(year, month, day) as f64;
            return Some(days * DAY + (hours * 3600 + minutes * 60 + seconds) as f64);
        }
    }
    let (date, time) = text.split_once('T')?;
    Some(parse_date(date)? * DAY + parse_time(time)?)
}

/// An unsigned decimal of `min` to `max` digits.
fn digits(text: &str, min: usize, max: usize) -> Option<i64> {
    if text.len() < min || text.len() > max || !text.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_seconds_as_jpmml_counts_them() {
        // JPMML's own examples (FunctionTest.evaluateDateTimeFunctions).
        let date = parse_date("2003-04-01").expect("date");
        assert_eq!(date - year_start(1960) as f64, 15796.0);
        assert_eq!(parse_time("05:23:30"), Some(19410.0));
        let stamp = parse_date_time("1960-01-03T03:30:03").expect("dateTime");
        assert_eq!(stamp - year_start(1960) as f64 * DAY, 185_403.0);
        assert_eq!(parse_date("1970-01-01"), Some(0.0));
        assert_eq!(parse_date("2000-02-29"), Some(11_016.0));
        assert_eq!(parse_date("2001-02-29"), None);
        assert_eq!(parse_time("24:00:00"), None);
    }

    #[test]
    fn floor_as_libm() {
        for x in [
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.0,
            -1.0,
            86_399.999,
            -86_400.0,
            1e15 + 0.5,
            -3e15 - 0.5,
        ] {
            assert_eq!(floor(x).to_bits(), x.floor().to_bits(), "{x}");
        }
        assert!(floor(f64::NAN).is_nan());
        assert_eq!(floor(1e300), 1e300);
        assert_eq!(trimmed(" a "), "a");
        assert_eq!(trimmed("a"), "a");
        assert_eq!(trimmed("\u{a0}a"), "a");
    }

    #[test]
    fn fixed_forms_read_as_the_general_ones() {
        assert_eq!(parse_time("23:59:59"), Some(86_399.0));
        assert_eq!(parse_time("12:60:00"), None);
        assert_eq!(parse_time("12:00:60"), None);
        assert_eq!(parse_time("1a:00:00"), None);
        assert_eq!(parse_time(" 05:23:30.5 "), Some(19410.0));
        assert_eq!(parse_date("2003-4-01"), None);
        assert_eq!(parse_date("2003-13-01"), None);
        assert_eq!(parse_date("20x3-01-01"), None);
        assert_eq!(
            parse_date("-0001-03-01"),
            Some(days_from_civil(-1, 3, 1) as f64)
        );
        assert_eq!(parse_date_time("2003-04-01T24:00:00"), None);
        assert_eq!(parse_date_time("2003-02-29T00:00:00"), None);
        assert_eq!(
            parse_date_time("2003-04-01T05:23:30"),
            Some(parse_date("2003-04-01").unwrap() * DAY + 19410.0)
        );
        assert_eq!(
            parse_date_time("2003-04-01T05:23"),
            Some(parse_date("2003-04-01").unwrap() * DAY + 19380.0)
        );
    }
}
