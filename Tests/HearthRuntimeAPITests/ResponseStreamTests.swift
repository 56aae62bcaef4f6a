import Synchronization
import Testing
@testable import HearthRuntimeAPI

@Suite("ResponseStream")
struct ResponseStreamTests {
    @Test("parts come in order; the first finish wins")
    func order() async {
        let stream = ResponseStream()
        stream.begin(contentType: "text/plain")
        stream.write(Array("a".utf8))
        stream.finish()
        stream.finish(.init(type: "Late", body: []))
        stream.write(Array("ignored".utf8))
        #expect(await stream.next() == .begin(contentType: "text/plain"))
        #expect(await stream.next() == .chunk(Array("a".utf8)))
        #expect(await stream.next() == .end(nil))
        #expect(await stream.next() == nil)
    }

    @Test("bounded: a write at the high-water mark asks the runtime to wait until the caller has taken half")
    func backPressure() async {
        let stream = ResponseStream()
        let block = [UInt8](repeating: 0x78, count: 64 * 1024)
        var accepted = 0
        while stream.write(block) { accepted += 1 }
        #expect((accepted + 1) * block.count >= ResponseStream.highWater)
        #expect(accepted * block.count < ResponseStream.highWater)
        let resumed = Mutex(false)
        stream.whenDrained { resumed.withLock { $0 = true } }
        _ = await stream.next() // begin
        _ = await stream.next()
        #expect(!resumed.withLock { $0 }, "resumed before the caller caught up")
        for _ in 0..<accepted { _ = await stream.next() }
        #expect(resumed.withLock { $0 })
    }

    @Test("a caller that goes away drops the buffer and lets the runtime write on")
    func cancel() async {
        let stream = ResponseStream()
        let block = [UInt8](repeating: 0, count: 64 * 1024)
        while stream.write(block) {}
        let resumed = Mutex(false)
        stream.whenDrained { resumed.withLock { $0 = true } }
        stream.cancel()
        #expect(resumed.withLock { $0 })
        #expect(stream.write(block))
        #expect(await stream.next() == nil)
    }

    @Test("an invocation that never began ends the caller's wait with nil")
    func abort() async {
        let stream = ResponseStream()
        async let first = stream.next()
        stream.abort()
        #expect(await first == nil)
    }

    @Test("a waiting caller gets a part as soon as it is written")
    func waitingCaller() async {
        let stream = ResponseStream()
        async let first = stream.next()
        stream.finish(.init(type: "Sandbox.Timedout", body: Array("t".utf8)))
        #expect(await first == .begin(contentType: nil))
        #expect(await stream.next() == .end(.init(type: "Sandbox.Timedout", body: Array("t".utf8))))
    }
}
