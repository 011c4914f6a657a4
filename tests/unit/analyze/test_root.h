// A temporary root directory for unit sets, removed when the test ends.
#ifndef GATEKEEPER_TESTS_UNIT_ANALYZE_TEST_ROOT_H_
#define GATEKEEPER_TESTS_UNIT_ANALYZE_TEST_ROOT_H_

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace gatekeeper::analyze {

class TestRoot {
 public:
  TestRoot() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gk-analyze-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
  }
  ~TestRoot() {
    std::error_code ec;
    // chmod'ed-away files must be removable again.
    for (auto& e : std::filesystem::recursive_directory_iterator(
             dir_, std::filesystem::directory_options::skip_permission_denied, ec)) {
      std::filesystem::permissions(e.path(), std::filesystem::perms::owner_all,
                                   std::filesystem::perm_options::add, ec);
    }
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }

  // Copies tests/fixtures/units/NAME (symlinks stay symlinks).
  void CopyFixture(const std::string& name) { CopyTree(FixtureDir(name), dir_); }
  static std::string FixtureDir(const std::string& name) {
    return std::string(GK_SOURCE_DIR) + "/tests/fixtures/units/" + name;
  }
  static void CopyTree(const std::string& from, const std::string& to) {
    std::filesystem::copy(from, to,
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::copy_symlinks |
                              std::filesystem::copy_options::overwrite_existing);
  }
  void Write(const std::string& path, const std::string& text) const {
    std::filesystem::create_directories(std::filesystem::path(dir_ + path).parent_path());
    std::ofstream(dir_ + path) << text;
  }
  void Symlink(const std::string& target, const std::string& path) const {
    std::filesystem::create_directories(std::filesystem::path(dir_ + path).parent_path());
    std::filesystem::create_symlink(target, dir_ + path);
  }

 private:
  std::string dir_;
};

}  // namespace gatekeeper::analyze

#endif  // GATEKEEPER_TESTS_UNIT_ANALYZE_TEST_ROOT_H_
