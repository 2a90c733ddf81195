// loader: loads a BPF object, attaches every program (perf_event programs
// to PERF_COUNT_SW_PAGE_FAULTS_MIN on every CPU), runs a shell command,
// then prints each program's average run time from bpf_stats.
//   loader OBJ 'COMMAND'
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct bpf_object *obj;
	struct bpf_program *p;
	int ncpus = libbpf_num_possible_cpus();

	if (argc != 3) {
		fprintf(stderr, "usage: loader OBJ 'COMMAND'\n");
		return 2;
	}
	obj = bpf_object__open(argv[1]);
	if (!obj || bpf_object__load(obj)) {
		perror("loader: load");
		return 1;
	}
	bpf_object__for_each_program(p, obj) {
		if (bpf_program__type(p) == BPF_PROG_TYPE_PERF_EVENT) {
			for (int cpu = 0; cpu < ncpus; cpu++) {
				struct perf_event_attr a = {
					.size = sizeof(a),
					.type = PERF_TYPE_SOFTWARE,
					.config = PERF_COUNT_SW_PAGE_FAULTS_MIN,
					.sample_period = 1,
				};
				int fd = syscall(SYS_perf_event_open, &a, -1,
						 cpu, -1, 0);
				if (fd < 0 ||
				    !bpf_program__attach_perf_event(p, fd)) {
					perror("loader: perf event");
					return 1;
				}
			}
		} else if (!bpf_program__attach(p)) {
			perror(bpf_program__name(p));
			return 1;
		}
	}
	if (system(argv[2]) != 0)
		fprintf(stderr, "loader: command failed\n");
	bpf_object__for_each_program(p, obj) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);

		bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len);
		printf("%-14s %8.1f ns/run  runs %llu\n", bpf_program__name(p),
		       info.run_cnt ? (double)info.run_time_ns / info.run_cnt : 0,
		       (unsigned long long)info.run_cnt);
	}
	return 0;
}
