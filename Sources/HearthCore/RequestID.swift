#if canImport(Glibc)
import Glibc
#endif

/// Lambda request ids: random (version 4) UUIDs in lower case, as AWS prints them.
///
/// Made per invocation, so without Foundation's UUID, which opens, reads and closes
/// /dev/urandom each time here: glibc's arc4random_buf (one getrandom call at most).
public enum RequestID {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func make() -> String {
        var bytes: (UInt64, UInt64) = (0, 0)
        return withUnsafeMutableBytes(of: &bytes) { raw in
            arc4random_buf(raw.baseAddress!, 16)
            raw[6] = (raw[6] & 0x0f) | 0x40  // version 4
            raw[8] = (raw[8] & 0x3f) | 0x80  // variant 10
            return String(unsafeUninitializedCapacity: 36) { out in
                var o = 0
                for i in 0..<16 {
                    if i == 4 || i == 6 || i == 8 || i == 10 {
                        out[o] = UInt8(ascii: "-")
                        o += 1
                    }
                    out[o] = hexDigits[Int(raw[i] >> 4)]
                    out[o + 1] = hexDigits[Int(raw[i] & 0x0f)]
                    o += 2
                }
                return o
            }
        }
    }
}
