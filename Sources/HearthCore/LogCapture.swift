import Foundation
import HearthSandbox
import Synchronization

/// Reads a function's combined stdout/stderr from a pipe on its own thread, passes it on to
/// `sink` as it arrives, and keeps the current invocation's output (bounded: the last
/// `keepBytes` bytes, with a truncation marker).
///
/// Attribution is exact: the pipe is read (non-blocking) only under the capture's lock, by the
/// reader thread or by `drain()`, and a read's bytes are appended before the lock is let go. So
/// once `drain()` returns, everything the function wrote before the call is in the current
/// invocation's log, never in the next one's (a reader that had taken bytes out of the pipe but
/// not yet appended them could otherwise lose that race under load).
public final class LogCapture: Sendable {
    public static let keepBytes = 256 * 1024
    /// The most `drain()` reads at once (a function writing without pause cannot keep it).
    static let drainLimit = 1 << 20
    public typealias Sink = @Sendable ([UInt8]) -> Void

    struct State {
        var buffer: [UInt8] = []
        var dropped = 0
        /// The pipe reached end-of-file (the reader thread then closes the read end).
        var finished = false
    }

    /// The pipe's write end, to hand to the sandbox; closed by `closeWriteEnd()`.
    public let writeFD: Int32
    private let readFD: Int32
    private let state = Mutex(State())
    private let sink: Sink?
    private let closedWrite = Mutex(false)

    public init(sink: Sink?) throws {
        (readFD, writeFD) = try makePipe()
        _ = fcntl(readFD, F_SETFL, fcntl(readFD, F_GETFL) | O_NONBLOCK)
        self.sink = sink
        let thread = Thread { [self] in self.run() }
        thread.name = "hearth-logs"
        thread.start()
    }

    private func run() {
        var finished = false
        while !finished {
            var fds = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            let ready = poll(&fds, 1, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 { break }
            finished = state.withLock { s in
                if !s.finished { readAvailable(&s, limit: Self.drainLimit) }
                return s.finished
            }
        }
        // Only this thread closes the read end (a poll on a closed, reused descriptor could block).
        close(readFD)
    }

    /// Reads what the pipe holds (up to `limit` bytes) into the buffer and the sink; at
    /// end-of-file marks the capture finished. Called with the lock held.
    private func readAvailable(_ s: inout State, limit: Int) {
        // Uninitialised scratch (no 64 KiB zeroed per call: this runs at least once per invocation,
        // most often to find the pipe empty).
        withUnsafeTemporaryAllocation(byteCount: 64 * 1024, alignment: 16) { chunk in
            var total = 0
            while total < limit {
                let n = read(readFD, chunk.baseAddress, chunk.count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return } // EAGAIN: nothing more for now
                if n == 0 {
                    s.finished = true
                    return
                }
                total += n
                let bytes = Array(UnsafeRawBufferPointer(rebasing: chunk[0..<n]))
                sink?(bytes)
                append(bytes, to: &s)
            }
        }
    }

    private func append(_ bytes: [UInt8], to s: inout State) {
        s.buffer.append(contentsOf: bytes)
        if s.buffer.count > Self.keepBytes {
            let excess = s.buffer.count - Self.keepBytes
            s.buffer.removeFirst(excess)
            s.dropped += excess
        }
    }

    /// Takes in everything written so far (without waiting), so that a function's last lines
    /// come before END/REPORT and never spill into the next invocation.
    public func drain() {
        state.withLock { s in
            if !s.finished { readAvailable(&s, limit: Self.drainLimit) }
        }
    }

    /// Writes one of Hearth's own lines (`INIT_START`, `START`) into the log in order: after
    /// everything the function wrote so far, before what it writes next.
    public func mark(_ line: String) {
        let bytes = Array(line.utf8)
        state.withLock { s in
            if !s.finished { readAvailable(&s, limit: Self.drainLimit) }
            sink?(bytes)
            append(bytes, to: &s)
        }
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
