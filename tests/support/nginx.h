// A daemonised Debian nginx for the system tests: master + 2 workers,
// forked before anything is recorded, with its configuration, pid file,
// logs and temp paths in one test directory. Used by record_nginx_test,
// record_tcp_test and connections_nginx_test (each with its own server
// block; every URI answers 200 "hello from nginx\n").
#pragma once

#include <sys/types.h>

#include <set>
#include <string>

namespace faultline::testing {

// "nginx" on PATH, else /usr/sbin/nginx; "" when neither is there.
std::string NginxBinary();

// Writes dir/nginx.conf: daemon, 2 workers, pid/error_log/temp paths in
// `dir`, access_log dir/access.log (or off), one server listening on
// `listen` ("127.0.0.1:8080", "[::1]:8080") with `directives` (may be "")
// in its block.
void WriteNginxConf(const std::string& dir, const std::string& listen,
                    const std::string& directives, bool access_log);

// Starts `binary` on dir/nginx.conf and waits (10 s at most) for the
// master's pid file and its two workers. "" when they are up, else what
// went wrong (one line, nginx's stderr appended); *master is set as soon
// as the pid file names it (stop it even on failure).
std::string StartNginx(const std::string& binary, const std::string& dir,
                       pid_t* master, std::set<pid_t>* workers);

// `nginx -s stop`, then waits (4 s at most) for `master` (if > 0) to go,
// so that its directory can be removed.
void StopNginx(const std::string& binary, const std::string& dir,
               pid_t master);

}  // namespace faultline::testing
