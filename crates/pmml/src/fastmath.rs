//! `exp` over whole slices, written so that the compiler vectorizes it (no branch, no call):
//! Cody–Waite reduction by ln 2 and a degree-13 Taylor polynomial, within a couple of ulps of
//! the correctly rounded result (JPMML's `Math.exp` is within one), for the many kernel values
//! of a support vector machine.

/// 1 / ln 2.
const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 in two parts (fdlibm's): the high part has 32 trailing zero bits, so `k * LN2_HI` is
/// exact for the `k` that occur.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// 1.5 × 2^52: adding it rounds to an integer, which then sits in the low mantissa bits.
const SHIFT: f64 = 6_755_399_441_055_744.0;
/// The arguments whose result is a normal number (others go to `f64::exp`).
const LOW: f64 = -708.0;
const HIGH: f64 = 709.0;

/// 1/n! for n = 2..=13.
const C2: f64 = 0.5;
const C3: f64 = 1.0 / 6.0;
const C4: f64 = 1.0 / 24.0;
const C5: f64 = 1.0 / 120.0;
const C6: f64 = 1.0 / 720.0;
const C7: f64 = 1.0 / 5_040.0;
const C8: f64 = 1.0 / 40_320.0;
const C9: f64 = 1.0 / 362_880.0;
const C10: f64 = 1.0 / 3_628_800.0;
const C11: f64 = 1.0 / 39_916_800.0;
const C12: f64 = 1.0 / 479_001_600.0;
const C13: f64 = 1.0 / 6_227_020_800.0;

/// e^x for `LOW < x < HIGH` (garbage, but no panic, elsewhere). The polynomial is evaluated by
/// Estrin's scheme: short dependency chains, so that successive values overlap.
#[inline(always)]
fn exp_in_range(x: f64) -> f64 {
    let shifted = x * LOG2E + SHIFT;
    let k = shifted - SHIFT;
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let r2 = r * r;
    let r4 = r2 * r2;
    let r8 = r4 * r4;
    let a0 = 1.0 + r;
    let a1 = C2 + C3 * r;
    let a2 = C4 + C5 * r;
    let a3 = C6 + C7 * r;
    let a4 = C8 + C9 * r;
    let a5 = C10 + C11 * r;
    let a6 = C12 + C13 * r;
    let b0 = a0 + a1 * r2;
    let b1 = a2 + a3 * r2;
    let b2 = a4 + a5 * r2;
    let c0 = b0 + b1 * r4;
    let c1 = b2 + a6 * r4;
    let p = c0 + c1 * r8;
    // The low bits of `shifted` hold k (two's complement, modulo 2^12): 2^k's exponent field.
    let scale = f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52);
    p * scale
}

/// Replaces each value `x` of `values` by e^x.
pub fn exp_in_place(values: &mut [f64]) {
    let in_range = values
        .iter()
        .fold(true, |ok, &x| ok & (x > LOW) & (x < HIGH));
    if in_range {
        for value in values.iter_mut() {
            *value = exp_in_range(*value);
        }
    } else {
        for value in values.iter_mut() {
            *value = value.exp();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(a: f64, b: f64) -> u64 {
        a.to_bits().abs_diff(b.to_bits())
    }

    #[test]
    fn within_two_ulps_of_libm() {
        let mut worst = 0;
        let mut x = -707.9;
        while x < 708.9 {
            for y in [x, x * 1e-3, x * 1e-9, -x * 1e-5] {
                let mut values = [y];
                exp_in_place(&mut values);
                worst = worst.max(ulps(values[0], y.exp()));
            }
            x += 0.001_234_567;
        }
        assert!(worst <= 2, "{worst} ulps");
    }

    #[test]
    fn out_of_range_and_special_values() {
        let mut values = [0.0, -1000.0, 1000.0, f64::NAN, -745.0, 709.5, 1.0];
        exp_in_place(&mut values);
        assert_eq!(values[0], 1.0);
        assert_eq!(values[1], 0.0);
        assert_eq!(values[2], f64::INFINITY);
        assert!(values[3].is_nan());
        assert_eq!(values[4], (-745.0f64).exp());
        assert_eq!(values[5], 709.5f64.exp());
        assert_eq!(values[6], 1.0f64.exp());
    }
}
