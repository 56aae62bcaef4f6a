import Foundation
import HearthCore
import Testing

/// The manifest keys of pre-initialised runtimes (ADR 0018) and when they apply.
@Suite("Runtime image manifests: pre-initialisation")
struct RuntimePreinitManifestTests {
    @Test("preinit=yes turns it on; preinit_unless names variables (a trailing * a prefix) that turn it off")
    func preinitKeys() throws {
        let manifest = try RuntimeImageManifest(parsing: """
            name=python3.11
            preinit=yes
            preinit_unless=AWS_LAMBDA_EXEC_WRAPPER PYTHON*
            """)
        #expect(manifest.preinitialize)
        #expect(manifest.preinitializeUnless == ["AWS_LAMBDA_EXEC_WRAPPER", "PYTHON*"])
        #expect(manifest.preinitializes(environment: [("_HANDLER", "app.handler"), ("AWS_LAMBDA_FUNCTION_NAME", "f")]))
        #expect(!manifest.preinitializes(environment: [("AWS_LAMBDA_EXEC_WRAPPER", "/opt/wrapper")]))
        #expect(!manifest.preinitializes(environment: [("PYTHONPATH", "/var/task/lib")]))
        #expect(!manifest.preinitializes(environment: [("PYTHONSTARTUP", "/var/task/s.py")]))
        // Only the exact name or the prefix: similar names do not count.
        #expect(manifest.preinitializes(environment: [("MY_PYTHONPATH", "x"), ("AWS_LAMBDA_EXEC_WRAPPER_X", "y")]))
        let plain = try RuntimeImageManifest(parsing: "name=provided\n")
        #expect(!plain.preinitialize)
        #expect(!plain.preinitializes(environment: []))
        #expect(plain != manifest)
    }

    @Test("the shipped python3.11 manifest pre-initialises, except with a wrapper or PYTHON* variables")
    func shippedPython() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let manifest = try RuntimeImageManifest(parsing: String(contentsOfFile: root + "/runtime-images/python3.11/manifest", encoding: .utf8))
        #expect(manifest.preinitializes(environment: []))
        #expect(!manifest.preinitializes(environment: [("AWS_LAMBDA_EXEC_WRAPPER", "/opt/w")]))
        #expect(!manifest.preinitializes(environment: [("PYTHONWARNINGS", "error")]))
        let provided = try RuntimeImageManifest(parsing: String(contentsOfFile: root + "/runtime-images/provided/manifest", encoding: .utf8))
        #expect(!provided.preinitialize)
    }
}
