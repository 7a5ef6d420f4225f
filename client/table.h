// Plain-text tables for people: left-aligned columns, a header row.
//
//   Table t({"NAME", "STATE"});
//   t.AddRow({"adsp", "running"});
//   std::cout << t.Render();
#ifndef PILD_CLIENT_TABLE_H_
#define PILD_CLIENT_TABLE_H_

#include <string>
#include <vector>

namespace pil::client {

// `text` with control characters written as \xNN: what a server or a
// certificate says cannot move the cursor, clear the screen or forge lines.
std::string Printable(const std::string& text);

class Table {
 public:
  explicit Table(std::vector<std::string> header);

  // Rows shorter than the header are padded with empty cells; cells are
  // made Printable().
  void AddRow(std::vector<std::string> row);

  // Columns separated by two spaces, no trailing blanks.
  std::string Render() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace pil::client

#endif  // PILD_CLIENT_TABLE_H_
