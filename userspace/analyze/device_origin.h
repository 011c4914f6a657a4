// Who creates a network device: a device unit only appears once its creator has run, so a unit
// that waits for the device and is itself waited for by the creator stalls the boot.
#ifndef GATEKEEPER_ANALYZE_DEVICE_ORIGIN_H_
#define GATEKEEPER_ANALYZE_DEVICE_ORIGIN_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "analyze/dependency_graph.h"
#include "analyze/root_fs.h"
#include "analyze/unit_file.h"

namespace gatekeeper::analyze {

struct DeviceCreator {
  std::string unit;
  Provenance why;
};

class DeviceOrigins {
 public:
  // Reads the .netdev files under the root and takes the IFACE=UNIT pairs given by the user.
  // A malformed pair is an error; odd .netdev files are warnings.
  static absl::StatusOr<DeviceOrigins> Load(
      const RootFs& fs, const std::vector<std::pair<std::string, std::string>>& created_by,
      std::vector<Warning>* warnings);

  // Every known creator of the interface; wg-quick@IFACE.service is always a candidate (the
  // caller keeps those that are part of the boot).
  std::vector<DeviceCreator> CreatorsOf(const std::string& iface) const;

  // "sys-subsystem-net-devices-wg0.device" -> "wg0"; "" for other device units.
  static std::string InterfaceOfDeviceUnit(const std::string& unit);

 private:
  std::map<std::string, std::vector<DeviceCreator>> known_;
};

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_DEVICE_ORIGIN_H_
