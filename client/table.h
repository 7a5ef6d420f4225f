// Plain-text tables for people: left-aligned columns, a header row.
//
//   Table t({"NAME", "STATE"});
//   t.AddRow({"adsp", "running"});
//   std::cout << t.Render();
#ifndef PILD_CLIENT_TABLE_H_
#define PILD_CLIENT_TABLE_H_

#include <string>
#include <vector>

#include "common/printable.h"

namespace pil::client {

class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Rows shorter than the header are padded with empty cells; cells are
  // made Printable() (common/printable.h).
  void AddRow(std::vector<std::string> row);

  // Columns separated by two spaces, no trailing blanks.
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace pil::client

#endif  // PILD_CLIENT_TABLE_H_
