// Nothing to compile: the header declares libFuzzer's LLVMFuzzerRunDriver for Swift.
#include "hearth_fuzz_driver.h"
