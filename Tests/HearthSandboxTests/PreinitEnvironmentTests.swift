import Testing
@testable import HearthSandbox

/// hearth-init's inputs for a pre-initialised runtime (ADR 0018).
@Suite("hearth-init environment: pre-initialised runtimes")
struct PreinitEnvironmentTests {
    static func spec(preinitialize: Bool) -> SandboxSpec {
        var spec = SandboxSpec(image: "/img", code: "/code", rootMountPoint: "/root")
        spec.preinitialize = preinitialize
        spec.environment = [("_HANDLER", "app.handler"), ("HEARTH_INIT_PREINIT", "0")]
        return spec
    }

    @Test("HEARTH_INIT_PREINIT=1 only for a held sandbox that asks for it, before the function's variables")
    func preinitFlag() {
        let held = Sandbox.initEnvironment(spec: Self.spec(preinitialize: true), hold: true)
        let first = held.firstIndex { $0.hasPrefix("HEARTH_INIT_PREINIT=") }
        #expect(first.map { held[$0] } == "HEARTH_INIT_PREINIT=1")
        // getenv finds the first entry: the function's own variable of that name cannot switch it.
        #expect(first! < held.firstIndex(of: "_HANDLER=app.handler")!)
        #expect(!Sandbox.initEnvironment(spec: Self.spec(preinitialize: true), hold: false).contains("HEARTH_INIT_PREINIT=1"))
        #expect(!Sandbox.initEnvironment(spec: Self.spec(preinitialize: false), hold: true).contains("HEARTH_INIT_PREINIT=1"))
    }
}
