//! A minimal DER reader: enough to walk X.509 certificates and private keys
//! without a crypto library. Every read is bounds-checked; malformed input
//! gives `None`, never a panic.

/// One tag-length-value: (tag, content, remaining input).
pub fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, input) = input.split_first()?;
    let (&first, mut input) = input.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || input.len() < n {
            return None;
        }
        let (len_bytes, rest) = input.split_at(n);
        input = rest;
        len_bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
    };
    if input.len() < len {
        return None;
    }
    let (content, rest) = input.split_at(len);
    Some((tag, content, rest))
}

/// Reads an element that must have `tag`: (content, rest).
pub fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match read_tlv(input)? {
        (t, content, rest) if t == tag => Some((content, rest)),
        _ => None,
    }
}

pub const SEQUENCE: u8 = 0x30;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const OID: u8 = 0x06;

/// An INTEGER's magnitude without leading zero bytes (for comparisons).
pub fn unsigned(int: &[u8]) -> &[u8] {
    let skip = int.iter().take_while(|b| **b == 0).count();
    &int[skip..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_lengths_and_rejects_truncation() {
        let mut der = vec![0x04, 0x81, 200];
        der.extend(std::iter::repeat_n(7u8, 200));
        let (tag, content, rest) = read_tlv(&der).expect("tlv");
        assert_eq!((tag, content.len(), rest.len()), (0x04, 200, 0));
        assert!(read_tlv(&der[..50]).is_none());
        assert!(read_tlv(&[0x30, 0x80]).is_none());
        assert!(read_tlv(&[0x30, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(read_tlv(&[]).is_none());
        assert_eq!(
            expect(&[0x02, 0x01, 0x05, 0xff], INTEGER),
            Some((&[5u8][..], &[0xffu8][..]))
        );
        assert!(expect(&[0x02, 0x01, 0x05], SEQUENCE).is_none());
    }

    #[test]
    fn unsigned_strips_leading_zeros() {
        assert_eq!(unsigned(&[0, 0, 0x80, 1]), &[0x80, 1]);
        assert_eq!(unsigned(&[0]), &[] as &[u8]);
    }
}
