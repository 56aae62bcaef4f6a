import Foundation
import HearthSandbox
import Synchronization

/// Reads a function's combined stdout/stderr from a pipe on its own thread, passes it on to
/// `sink` as it arrives, and keeps the current invocation's output (bounded: the last
/// `keepBytes` bytes, with a truncation marker).
public final class LogCapture: Sendable {
    public static let keepBytes = 256 * 1024
    public typealias Sink = @Sendable ([UInt8]) -> Void

    /// The pipe's write end, to hand to the sandbox; closed by `closeWriteEnd()`.
    public let writeFD: Int32
    private let readFD: Int32
    private let state = Mutex<(buffer: [UInt8], dropped: Int, busy: Bool, finished: Bool)>(([], 0, false, false))
    private let sink: Sink?
    private let closedWrite = Mutex(false)

    public init(sink: Sink?) throws {
        (readFD, writeFD) = try makePipe()
        self.sink = sink
        let thread = Thread { [self] in self.run() }
        thread.name = "hearth-logs"
        thread.start()
    }

    private func run() {
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            let bytes = Array(chunk[0..<n])
            state.withLock { $0.busy = true }
            sink?(bytes)
            state.withLock { s in
                s.buffer.append(contentsOf: bytes)
                if s.buffer.count > Self.keepBytes {
                    let excess = s.buffer.count - Self.keepBytes
                    s.buffer.removeFirst(excess)
                    s.dropped += excess
                }
                s.busy = false
            }
        }
        close(readFD)
        state.withLock { $0.finished = true }
    }

    /// Waits (up to `limitMs`) until everything written so far has been read, so that a
    /// function's last lines come before END/REPORT.
    public func drain(limitMs: Int = 50) {
        for _ in 0..<limitMs {
            var pending: Int32 = 0
            let finished = state.withLock { $0.finished }
            if finished { return }
            if ioctl(readFD, UInt(FIONREAD), &pending) == 0 && pending == 0 && !state.withLock({ $0.busy }) { return }
            usleep(1000)
        }
    }

    /// Writes one of Hearth's own lines (`INIT_START`, `START`) into the log in order: after
    /// everything the function wrote so far, before what it writes next.
    public func mark(_ line: String) {
        drain()
        let bytes = Array(line.utf8)
        state.withLock { s in
            s.busy = true
            s.buffer.append(contentsOf: bytes)
        }
        sink?(bytes)
        state.withLock { $0.busy = false }
    }

    /// Starts a new invocation's log.
    public func begin() {
        state.withLock { $0.buffer = []; $0.dropped = 0 }
    }

    /// The current invocation's output so far: the last `keepBytes` bytes, after a marker line
    /// saying how much was dropped when the function wrote more.
    public func current() -> [UInt8] {
        state.withLock { s in
            guard s.dropped > 0 else { return s.buffer }
            return Array("[hearth: log truncated, \(s.dropped) earlier bytes of this invocation dropped]\n".utf8) + s.buffer
        }
    }

    /// Closes our copy of the write end; the reader ends once the sandbox's copies are gone.
    public func closeWriteEnd() {
        let first = closedWrite.withLock { done in
            defer { done = true }
            return !done
        }
        if first { close(writeFD) }
    }
}
