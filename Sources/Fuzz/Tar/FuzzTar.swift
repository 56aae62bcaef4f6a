// libFuzzer entry for FuzzTarget.tar (see Sources/HearthFuzzing). scripts/fuzz builds this with
// -sanitize=fuzzer -DHEARTH_FUZZ: SwiftPM renames an executable's main to FuzzTar_main, so
// that is defined here and hands over to libFuzzer's driver. An ordinary build gets a main
// that replays the files given as arguments.
import Foundation
import HearthFuzzing

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTarget.tar.run(bytes, count)
}

#if HEARTH_FUZZ
import CHearthFuzzDriver

@_cdecl("FuzzTar_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in FuzzTarget.tar.run(data, size) }
}
#else
@main
enum Replay {
    static func main() {
        exit(FuzzTarget.tar.replay(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
