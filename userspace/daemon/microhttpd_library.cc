#include "daemon/microhttpd_library.h"

#include <dlfcn.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace gatekeeper::daemon {
namespace {

// dlerror() is NULL when nothing failed since the last call (a symbol whose value is NULL).
std::string LastDlError() {
  const char* error = dlerror();
  return error != nullptr ? error : "no error text";
}

// Closes the handle unless release()d: a library lacking a function is of no use.
class DlHandle {
 public:
  explicit DlHandle(void* handle) : handle_(handle) {}
  ~DlHandle() {
    if (handle_ != nullptr) dlclose(handle_);
  }
  DlHandle(const DlHandle&) = delete;
  DlHandle& operator=(const DlHandle&) = delete;
  void* get() const { return handle_; }
  void release() { handle_ = nullptr; }

 private:
  void* handle_;
};

template <typename Function>
absl::Status Resolve(const DlHandle& library, const char* soname, const char* name,
                     Function* function) {
  (void)dlerror();
  *function = reinterpret_cast<Function>(dlsym(library.get(), name));
  if (*function == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat(soname, " lacks ", name, ": ", LastDlError()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<MicrohttpdLibrary> LoadMicrohttpd(const char* soname) {
  DlHandle library(dlopen(soname, RTLD_NOW | RTLD_NODELETE));
  if (library.get() == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat("load ", soname, ": ", LastDlError()));
  }
  MicrohttpdLibrary mhd;
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_start_daemon", &mhd.start_daemon));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_stop_daemon", &mhd.stop_daemon));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_get_daemon_info", &mhd.get_daemon_info));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_run", &mhd.run));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_get_timeout", &mhd.get_timeout));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_create_response_from_buffer",
                             &mhd.create_response_from_buffer));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_add_response_header", &mhd.add_response_header));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_queue_response", &mhd.queue_response));
  GK_RETURN_IF_ERROR(Resolve(library, soname, "MHD_destroy_response", &mhd.destroy_response));
  library.release();
  return mhd;
}

absl::StatusOr<const MicrohttpdLibrary*> Microhttpd() {
  // Never destroyed: the functions stay usable until the process ends.
  static const auto* const library =
      new absl::StatusOr<MicrohttpdLibrary>(LoadMicrohttpd(kMicrohttpdSoname));
  if (!library->ok()) return library->status();
  return &**library;
}

}  // namespace gatekeeper::daemon
