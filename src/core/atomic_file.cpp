#include "core/atomic_file.h"

#include <filesystem>
#include <fstream>
#include <system_error>

#include "core/error.h"

namespace omnitune {

void write_text_file_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    OT_REQUIRE(out, "cannot write ", tmp);
    out << text;
    out.close();
    OT_REQUIRE(out.good(), "cannot write ", tmp, " (disk full?)");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  OT_REQUIRE(!ec, "cannot rename ", tmp, " to ", path, ": ", ec.message());
}

}  // namespace omnitune
