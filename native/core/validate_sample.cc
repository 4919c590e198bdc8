// SAMPLE validator: not written yet (issue 6). Placeholder so the source lists stay fixed while it is.
#include "op.h"
