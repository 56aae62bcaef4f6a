import NIOCore

/// On a Runtime API listener: accepts a connection only while the instance's gate is open
/// (`RuntimeAPIServer.mayAccept`), so an idle instance, or one that has spent its budget of
/// refused requests, cannot make the supervisor accept and close connections in a loop. Held
/// connections wait in the listener's backlog (64), in the kernel. Lives on the server's event
/// loop.
final class RuntimeAPIAcceptGate: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = Never

    private let server: RuntimeAPIServer
    private var waiting = false

    init(server: RuntimeAPIServer) {
        self.server = server
    }

    func read(context: ChannelHandlerContext) {
        if server.mayAccept() {
            context.read()
            return
        }
        guard !waiting else { return }
        waiting = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        server.waitForGateToAccept {
            let (gate, context) = bound.value
            gate.waiting = false
            gate.read(context: context)
        }
    }
}
