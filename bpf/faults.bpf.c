// SPDX-License-Identifier: GPL-2.0
/* Placeholder: replaced by the fault programs. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "faultline.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp/exceptions/page_fault_user")
int handle_page_fault_user(void *ctx)
{
	return 0;
}
