// libFuzzer's driver, for the fuzz executables (Sources/Fuzz/*). SwiftPM links executables
// with main renamed to <Module>_main, so they cannot take libFuzzer's own main; with
// -DHEARTH_FUZZ they define <Module>_main and call this. Only referenced in fuzz builds
// (-sanitize=fuzzer links libFuzzer), so ordinary builds never need the symbol.
#ifndef HEARTH_FUZZ_DRIVER_H
#define HEARTH_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *_Nonnull argc, char *_Nullable *_Nullable *_Nonnull argv,
                        int (*_Nonnull callback)(const uint8_t *_Nullable data, size_t size));

#endif
