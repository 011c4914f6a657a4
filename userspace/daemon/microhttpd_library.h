// libmicrohttpd, loaded at run time the way systemd loads its optional libraries: the daemon is
// not linked against it, so a daemon without --metrics-listen never maps it nor what it drags in
// (GnuTLS, p11-kit, nettle, gmp, ...; about 2.5 MiB of RSS). The header still supplies the types
// and prototypes, so every function pointer has exactly the type the library declares.
#ifndef GATEKEEPER_DAEMON_MICROHTTPD_LIBRARY_H_
#define GATEKEEPER_DAEMON_MICROHTTPD_LIBRARY_H_

#include <microhttpd.h>

#include "absl/status/statusor.h"

namespace gatekeeper::daemon {

// The ABI the header describes; libmicrohttpd-dev's libmicrohttpd.so points at it.
inline constexpr char kMicrohttpdSoname[] = "libmicrohttpd.so.12";

// The functions MetricsHttpServer calls, named as in the library without the MHD_ prefix.
struct MicrohttpdLibrary {
  decltype(&MHD_start_daemon) start_daemon;
  decltype(&MHD_stop_daemon) stop_daemon;
  decltype(&MHD_get_daemon_info) get_daemon_info;
  decltype(&MHD_run) run;
  decltype(&MHD_get_timeout) get_timeout;
  decltype(&MHD_create_response_from_buffer) create_response_from_buffer;
  decltype(&MHD_add_response_header) add_response_header;
  decltype(&MHD_queue_response) queue_response;
  decltype(&MHD_destroy_response) destroy_response;
};

// dlopen()s `soname` (RTLD_NOW | RTLD_NODELETE: it stays mapped for good) and looks up every
// function. FailedPrecondition naming the library, and the symbol if one is missing, with
// dlerror()'s text otherwise. Each successful call keeps a reference to the library.
absl::StatusOr<MicrohttpdLibrary> LoadMicrohttpd(const char* soname);

// kMicrohttpdSoname, loaded on the first call; later calls return the same result, error included.
absl::StatusOr<const MicrohttpdLibrary*> Microhttpd();

}  // namespace gatekeeper::daemon

#endif  // GATEKEEPER_DAEMON_MICROHTTPD_LIBRARY_H_
