//! Python's text forms (`repr` of bytes, str and float, `str` of a datetime),
//! so that dumps read exactly like python-diameter's.

use std::fmt::{self, Write};

/// `repr(bytes)`: `b'abc\x00'`, double quotes when the bytes hold `'` but no `"`.
pub(crate) fn bytes_repr(f: &mut impl Write, data: &[u8]) -> fmt::Result {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    f.write_char('b')?;
    f.write_char(char::from(quote))?;
    for &b in data {
        match b {
            b'\\' => f.write_str("\\\\")?,
            b'\t' => f.write_str("\\t")?,
            b'\n' => f.write_str("\\n")?,
            b'\r' => f.write_str("\\r")?,
            _ if b == quote => {
                f.write_char('\\')?;
                f.write_char(char::from(b))?;
            }
            0x20..=0x7e => f.write_char(char::from(b))?,
            _ => write!(f, "\\x{b:02x}")?,
        }
    }
    f.write_char(char::from(quote))
}

/// `repr(str)` for the text python prints inside tuples.
pub(crate) fn str_repr(f: &mut impl Write, s: &str) -> fmt::Result {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    f.write_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => f.write_str("\\\\")?,
            '\t' => f.write_str("\\t")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            _ if c == quote => {
                f.write_char('\\')?;
                f.write_char(c)?;
            }
            _ if (c as u32) < 0x20 || c as u32 == 0x7f => write!(f, "\\x{:02x}", c as u32)?,
            _ => f.write_char(c)?,
        }
    }
    f.write_char(quote)
}

/// `repr(float)`: the shortest digits that read back to the same value, in
/// positional form for exponents -4..16 and scientific form otherwise.
pub(crate) fn float_repr(f: &mut impl Write, x: f64) -> fmt::Result {
    if x.is_nan() {
        return f.write_str("nan");
    }
    if x.is_infinite() {
        return f.write_str(if x > 0.0 { "inf" } else { "-inf" });
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    f.write_str(sign)?;
    if (-4..16).contains(&exp) {
        let n = digits.len() as i32;
        if exp < 0 {
            f.write_str("0.")?;
            for _ in 0..(-exp - 1) {
                f.write_char('0')?;
            }
            f.write_str(&digits)
        } else if exp + 1 >= n {
            f.write_str(&digits)?;
            for _ in 0..(exp + 1 - n) {
                f.write_char('0')?;
            }
            f.write_str(".0")
        } else {
            let split = (exp + 1) as usize;
            f.write_str(&digits[..split])?;
            f.write_char('.')?;
            f.write_str(&digits[split..])
        }
    } else {
        f.write_str(&digits[..1])?;
        if digits.len() > 1 {
            f.write_char('.')?;
            f.write_str(&digits[1..])?;
        }
        write!(
            f,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        )
    }
}

/// IPv6 text as glibc's `inet_ntop` writes it (python's `socket.inet_ntop`):
/// the longest run of two or more zero groups (the first on a tie) becomes
/// `::`, and an address whose first 96 bits are zero, or that is
/// `::ffff:a.b.c.d`, ends in dotted IPv4 (`::192.0.2.1`, `::0.1.0.2`).
pub(crate) fn ipv6_str(addr: &std::net::Ipv6Addr) -> String {
    let w = addr.segments();
    let (mut best, mut best_len, mut cur, mut cur_len) = (0usize, 0usize, 0usize, 0usize);
    for (i, word) in w.iter().enumerate() {
        if *word == 0 {
            if cur_len == 0 {
                cur = i;
            }
            cur_len += 1;
            if cur_len > best_len {
                best = cur;
                best_len = cur_len;
            }
        } else {
            cur_len = 0;
        }
    }
    if best_len < 2 {
        best_len = 0;
    }
    let v4_tail = best == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff));
    let mut out = String::new();
    let mut i = 0;
    while i < 8 {
        if best_len > 0 && i == best {
            out.push(':');
            i += best_len;
            if i == 8 {
                out.push(':');
            }
            continue;
        }
        if i > 0 {
            out.push(':');
        }
        if i == 6 && v4_tail {
            let o = addr.octets();
            let _ = write!(out, "{}.{}.{}.{}", o[12], o[13], o[14], o[15]);
            break;
        }
        let _ = write!(out, "{:x}", w[i]);
        i += 1;
    }
    out
}

/// Civil date and time (UTC) of a Unix timestamp: (year, month, day, h, m, s).
pub(crate) fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        year,
        month,
        day,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// `str(datetime)` of a Unix timestamp in UTC: `2048-02-07 06:28:16`.
pub(crate) fn datetime_str(f: &mut impl Write, unix_secs: i64) -> fmt::Result {
    let (y, mo, d, h, mi, s) = civil_from_unix(unix_secs);
    write!(f, "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(x: f64) -> String {
        let mut s = String::new();
        float_repr(&mut s, x).unwrap();
        s
    }

    #[test]
    fn floats_read_like_python() {
        let cases = [
            (128.65, "128.65"),
            (f64::from(128.65f32), "128.64999389648438"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (123.0, "123.0"),
            (1.5e300, "1.5e+300"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
            (0.5, "0.5"),
            (9999999999999998.0, "9999999999999998.0"),
        ];
        for (x, want) in cases {
            assert_eq!(fr(x), want, "{x:e}");
        }
    }

    #[test]
    fn bytes_read_like_python() {
        let mut s = String::new();
        bytes_repr(&mut s, b"a'b\"c\x00\x7f\xff\t\n\r\\").unwrap();
        assert_eq!(s, r#"b'a\'b"c\x00\x7f\xff\t\n\r\\'"#);
        s.clear();
        bytes_repr(&mut s, b"it's").unwrap();
        assert_eq!(s, r#"b"it's""#);
    }

    #[test]
    fn ipv6_reads_like_inet_ntop() {
        let cases = [
            ("::", "::"),
            ("::1", "::1"),
            ("::1:2", "::0.1.0.2"),
            ("::192.0.2.1", "::192.0.2.1"),
            ("::ffff:192.0.2.1", "::ffff:192.0.2.1"),
            ("2001:db8::1", "2001:db8::1"),
            ("2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"),
            ("2001:0:0:1:0:0:1:1", "2001::1:0:0:1:1"),
            ("1:0:2:3:4:5:6:7", "1:0:2:3:4:5:6:7"),
            ("1::", "1::"),
            (
                "8b71:8c8a:1e29:716a:6184:7966:fd43:4200",
                "8b71:8c8a:1e29:716a:6184:7966:fd43:4200",
            ),
        ];
        for (input, want) in cases {
            let addr: std::net::Ipv6Addr = input.parse().unwrap();
            assert_eq!(ipv6_str(&addr), want, "{input}");
        }
    }

    #[test]
    fn datetimes_read_like_python() {
        let mut s = String::new();
        datetime_str(&mut s, 0x16925e80 + 2_085_978_496).unwrap();
        assert_eq!(s, "2048-02-07 06:28:16");
        s.clear();
        datetime_str(&mut s, -61_505_152).unwrap();
        assert_eq!(s, "1968-01-20 03:14:08");
    }
}
