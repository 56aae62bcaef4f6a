// hearth-echo: `hearth bench`'s default function, built with hearth (installed next to it) so a
// benchmark needs no fixture build. It is the C echo example (Examples/echo-c) with its tiny
// Runtime API client (Examples/lambda-c), compiled from those sources unchanged; linked
// statically, so it runs on any runtime image.
#include "../../Examples/lambda-c/lambda_client.c"
#include "../../Examples/echo-c/main.c"
