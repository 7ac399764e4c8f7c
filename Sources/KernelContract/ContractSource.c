#include "xent_contract.h"

// The header's own text, for the OpenCL programs (#embed: C23, which clang also takes in older modes).
#pragma clang diagnostic ignored "-Wc23-extensions"
static const char contract_source[] = {
#embed "include/xent_contract.h"
    , 0};

const char *xent_contract_source(void) { return contract_source; }
