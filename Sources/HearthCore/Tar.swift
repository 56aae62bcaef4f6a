import CHearthZlib
import Foundation
import HearthSandbox

/// A source of bytes read front to back: a file range, or gzip over another source.
protocol ByteSource: AnyObject {
    /// Reads up to `count` bytes into `buffer`; 0 at the end.
    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int
}

extension ByteSource {
    /// Reads exactly `count` bytes, or throws on a short read.
    func readExactly(_ count: Int, what: String) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var offset = 0
        while offset < count {
            let n = try bytes.withUnsafeMutableBytes { try read(into: $0.baseAddress! + offset, count: count - offset) }
            if n == 0 { throw HearthError.usage("\(what): unexpected end of archive") }
            offset += n
        }
        return bytes
    }

    /// Reads and discards `count` bytes.
    func skip(_ count: Int, what: String) throws {
        var left = count
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 65536, alignment: 8)
        defer { scratch.deallocate() }
        while left > 0 {
            let n = try read(into: scratch, count: min(left, 65536))
            if n == 0 { throw HearthError.usage("\(what): unexpected end of archive") }
            left -= n
        }
    }
}

/// `length` bytes of an open file starting at `offset` (pread: sources over one file are independent).
final class FileRangeSource: ByteSource {
    let fd: Int32
    private var position: Int64
    private let end: Int64
    private let ownsDescriptor: Bool
    /// Bytes in the range.
    var length: Int64 { end - start }
    private let start: Int64

    /// With `owning`, the descriptor is closed when the source goes away.
    init(fd: Int32, offset: Int64, length: Int64, owning: Bool = false) {
        self.fd = fd
        start = offset
        position = offset
        end = offset + length
        ownsDescriptor = owning
    }

    /// The first `count` bytes of the range (fewer if it is shorter), without consuming them.
    func peek(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: Int(min(Int64(count), end - start)))
        let n = bytes.isEmpty ? 0 : pread(fd, &bytes, bytes.count, off_t(start))
        return Array(bytes.prefix(max(0, n)))
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        let want = Int(min(Int64(count), end - position))
        if want <= 0 { return 0 }
        while true {
            let n = pread(fd, buffer, want, off_t(position))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read")
            }
            position += Int64(n)
            return n
        }
    }
}

/// Inflates a gzip stream (one or more members) from another source, with zlib.
final class GzipSource: ByteSource {
    private let inner: any ByteSource
    private var stream = z_stream()
    private let input: UnsafeMutablePointer<UInt8>
    private static let inputSize = 65536
    private var finished = false
    private let what: String

    init(_ inner: any ByteSource, what: String) throws {
        self.inner = inner
        self.what = what
        input = .allocate(capacity: Self.inputSize)
        // 16 + MAX_WBITS: expect a gzip header.
        if inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) != Z_OK {
            input.deallocate()
            throw HearthError.setup("\(what): cannot initialise zlib")
        }
    }

    /// The hashing source below, if any (to finish a layer's digest check).
    var innerHashing: HashingSource? { inner as? HashingSource }

    deinit {
        inflateEnd(&stream)
        input.deallocate()
    }

    func read(into buffer: UnsafeMutableRawPointer, count: Int) throws -> Int {
        if finished || count == 0 { return 0 }
        stream.next_out = buffer.assumingMemoryBound(to: UInt8.self)
        stream.avail_out = UInt32(min(count, Int(UInt32.max)))
        while stream.avail_out > 0 {
            if stream.avail_in == 0 {
                let n = try inner.read(into: input, count: Self.inputSize)
                if n == 0 {
                    if stream.avail_out == UInt32(min(count, Int(UInt32.max))) {
                        throw HearthError.usage("\(what): gzip stream ends early")
                    }
                    break
                }
                stream.next_in = input
                stream.avail_in = UInt32(n)
            }
            let status = inflate(&stream, Z_NO_FLUSH)
            if status == Z_STREAM_END {
                // Another gzip member may follow (concatenated streams are valid gzip).
                if stream.avail_in == 0 {
                    let n = try inner.read(into: input, count: Self.inputSize)
                    if n == 0 { finished = true; break }
                    stream.next_in = input
                    stream.avail_in = UInt32(n)
                }
                inflateReset(&stream)
                continue
            }
            if status != Z_OK && status != Z_BUF_ERROR {
                throw HearthError.usage("\(what): corrupt gzip data (zlib status \(status))")
            }
        }
        return min(count, Int(UInt32.max)) - Int(stream.avail_out)
    }
}

/// One member of a tar archive, after GNU long names and PAX headers are applied.
struct TarEntry {
    enum Kind: Equatable {
        case file, hardLink, symlink, characterDevice, blockDevice, directory, fifo, other(UInt8)
    }

    var path: String
    var kind: Kind
    var size: Int64
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var linkTarget: String
}

/// Reads a tar stream (ustar, GNU and PAX extensions) header by header. After `next()`,
/// read the entry's data with `readData` or let the next `next()` skip it.
final class TarReader {
    private let source: any ByteSource
    private let what: String
    /// Bytes of the current entry's data (plus padding) not yet consumed.
    private var pendingData: Int64 = 0
    private var pendingPadding: Int64 = 0
    /// Offset of the next byte from the start of the stream (for members of an uncompressed tar).
    private(set) var offset: Int64 = 0

    init(_ source: any ByteSource, what: String) {
        self.source = source
        self.what = what
    }

    func next() throws -> TarEntry? {
        try skipRemainder()
        var longName: String?
        var longLink: String?
        var pax: [String: String] = [:]
        while true {
            let header = try source.readExactly(512, what: what)
            offset += 512
            if header.allSatisfy({ $0 == 0 }) { return nil }
            guard Self.checksumMatches(header) else { throw HearthError.usage("\(what): not a tar archive (bad header checksum)") }
            let size = try Self.number(header[124..<136], what: what)
            if size < 0 { throw HearthError.usage("\(what): negative entry size") }
            let type = header[156]
            switch type {
            case UInt8(ascii: "L"), UInt8(ascii: "K"), UInt8(ascii: "x"), UInt8(ascii: "g"):
                if size > 1 << 20 { throw HearthError.usage("\(what): extended header of \(size) bytes is too large") }
                let data = try source.readExactly(Int(size), what: what)
                try source.skip(Self.padding(size), what: what)
                offset += size + Int64(Self.padding(size))
                if type == UInt8(ascii: "L") { longName = Self.cString(data[...]) }
                if type == UInt8(ascii: "K") { longLink = Self.cString(data[...]) }
                if type == UInt8(ascii: "x") { pax.merge(try Self.paxRecords(data, what: what)) { $1 } }
                continue
            default:
                break
            }
            var path = Self.cString(header[0..<100])
            let magic = header[257..<262]
            if Array(magic) == Array("ustar".utf8) {
                let prefix = Self.cString(header[345..<500])
                if !prefix.isEmpty { path = prefix + "/" + path }
            }
            if let longName { path = longName }
            if let p = pax["path"] { path = p }
            var link = Self.cString(header[157..<257])
            if let longLink { link = longLink }
            if let l = pax["linkpath"] { link = l }
            var entrySize = size
            if let s = pax["size"], let n = Int64(s) { entrySize = n }
            let kind: TarEntry.Kind
            switch type {
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"): kind = .file
            case UInt8(ascii: "1"): kind = .hardLink
            case UInt8(ascii: "2"): kind = .symlink
            case UInt8(ascii: "3"): kind = .characterDevice
            case UInt8(ascii: "4"): kind = .blockDevice
            case UInt8(ascii: "5"): kind = .directory
            case UInt8(ascii: "6"): kind = .fifo
            default: kind = .other(type)
            }
            // Old tars mark folders with a trailing slash on a regular entry.
            let finalKind: TarEntry.Kind = (kind == .file && path.hasSuffix("/")) ? .directory : kind
            let hasData = finalKind == .file || {
                if case .other = finalKind { return true } else { return false }
            }()
            pendingData = hasData ? entrySize : 0
            pendingPadding = hasData ? Int64(Self.padding(entrySize)) : 0
            let uid = pax["uid"].flatMap { UInt32($0) } ?? UInt32(truncatingIfNeeded: (try? Self.number(header[108..<116], what: what)) ?? 0)
            let gid = pax["gid"].flatMap { UInt32($0) } ?? UInt32(truncatingIfNeeded: (try? Self.number(header[116..<124], what: what)) ?? 0)
            let mode = UInt32(truncatingIfNeeded: (try? Self.number(header[100..<108], what: what)) ?? 0o644)
            return TarEntry(path: path, kind: finalKind, size: hasData ? entrySize : 0, mode: mode & 0o7777,
                            uid: uid, gid: gid, linkTarget: link)
        }
    }

    /// Reads the current entry's data in chunks.
    func readData(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let scratch = UnsafeMutableRawPointer.allocate(byteCount: 1 << 17, alignment: 8)
        defer { scratch.deallocate() }
        while pendingData > 0 {
            let n = try source.read(into: scratch, count: Int(min(pendingData, 1 << 17)))
            if n == 0 { throw HearthError.usage("\(what): unexpected end of archive") }
            pendingData -= Int64(n)
            offset += Int64(n)
            try body(UnsafeRawBufferPointer(start: scratch, count: n))
        }
    }

    /// The current entry's data in memory (small files: manifests and configs), at most `limit` bytes.
    func readAll(limit: Int) throws -> [UInt8] {
        if pendingData > Int64(limit) { throw HearthError.usage("\(what): entry of \(pendingData) bytes is too large") }
        var out: [UInt8] = []
        try readData { out.append(contentsOf: $0) }
        return out
    }

    private func skipRemainder() throws {
        if pendingData > 0 {
            try source.skip(Int(pendingData), what: what)
            offset += pendingData
            pendingData = 0
        }
        if pendingPadding > 0 {
            try source.skip(Int(pendingPadding), what: what)
            offset += pendingPadding
            pendingPadding = 0
        }
    }

    static func padding(_ size: Int64) -> Int { Int((512 - size % 512) % 512) }

    static func cString(_ bytes: ArraySlice<UInt8>) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
    }

    /// An octal field, or GNU's base-256 when the high bit is set.
    static func number(_ field: ArraySlice<UInt8>, what: String) throws -> Int64 {
        guard let first = field.first else { return 0 }
        if first & 0x80 != 0 {
            var value: Int64 = Int64(first & 0x7f)
            for byte in field.dropFirst() {
                if value > Int64.max >> 8 { throw HearthError.usage("\(what): number field overflows") }
                value = value << 8 | Int64(byte)
            }
            return value
        }
        var value: Int64 = 0
        for byte in field {
            if byte == 0 || byte == 0x20 { if value > 0 { break } else { continue } }
            guard (0x30...0x37).contains(byte) else { throw HearthError.usage("\(what): bad octal field in tar header") }
            if value > Int64.max >> 3 { throw HearthError.usage("\(what): number field overflows") }
            value = value << 3 | Int64(byte - 0x30)
        }
        return value
    }

    static func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let stored = try? number(header[148..<156], what: "") else { return false }
        var unsigned: Int64 = 0
        for (i, byte) in header.enumerated() { unsigned += (148..<156).contains(i) ? 0x20 : Int64(byte) }
        return stored == unsigned
    }

    /// PAX records: "LENGTH key=value\n".
    static func paxRecords(_ data: [UInt8], what: String) throws -> [String: String] {
        var records: [String: String] = [:]
        var i = 0
        while i < data.count {
            guard let space = data[i...].firstIndex(of: 0x20),
                  let length = Int(String(decoding: data[i..<space], as: UTF8.self)), length > 0, i + length <= data.count
            else { throw HearthError.usage("\(what): malformed PAX header") }
            let record = data[(space + 1)..<(i + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")) {
                records[String(decoding: record[record.startIndex..<eq], as: UTF8.self)] =
                    String(decoding: record[(eq + 1)...], as: UTF8.self)
            }
            i += length
        }
        return records
    }
}
