// GATED_DELTA_NET on CUDA: not written yet (issue 6). Placeholder so the source lists stay fixed while it is.
#include "backend.cuh"
