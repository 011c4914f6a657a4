// Unit names as systemd 252 spells them: types, templates/instances, path escaping, specifiers.
#ifndef GATEKEEPER_ANALYZE_UNIT_NAME_H_
#define GATEKEEPER_ANALYZE_UNIT_NAME_H_

#include <string>
#include <string_view>
#include <vector>

namespace gatekeeper::analyze {

// The suffix after the last dot ("service", "socket", ...), or "" when there is none.
std::string UnitSuffix(std::string_view name);

// True for NAME.SUFFIX with a known suffix and characters systemd accepts in unit names.
bool IsValidUnitName(std::string_view name);

// "foo@.service" is a template, "foo@bar.service" an instance of it.
bool IsTemplate(std::string_view name);
bool IsInstance(std::string_view name);
// "foo@bar.service" -> "foo@.service"; "" for a name without "@".
std::string TemplateOf(std::string_view name);
// "foo@bar.service" -> "bar"; "" when not an instance.
std::string InstanceOf(std::string_view name);
// "foo@bar.service" -> "foo", "foo.service" -> "foo".
std::string PrefixOf(std::string_view name);
// ("foo@.service", "bar") -> "foo@bar.service".
std::string Instantiate(std::string_view template_name, std::string_view instance);

// unit_name_path_escape(): "/sys/subsystem/net/devices/wg-a" ->
// "sys-subsystem-net-devices-wg\x2da".
std::string EscapePath(std::string_view path);
// Undoes \xNN escapes (as %I does); with `path`, also maps "-" to "/" (as %f does).
std::string Unescape(std::string_view s, bool path);

// The device unit systemd waits for when a unit says BindToDevice=IFACE.
std::string NetworkDeviceUnit(std::string_view iface);

// Expands %n %N %p %P %i %I %f %j %J %%; anything else stays verbatim and is named in `unknown`.
std::string ExpandSpecifiers(std::string_view value, std::string_view unit_name,
                             std::vector<std::string>* unknown);

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_ANALYZE_UNIT_NAME_H_
