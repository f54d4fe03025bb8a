// ncurses for Swift: the wide-character API (SwiftPM drops the pkg-config
// flags that would enable it), and functions for the macros Swift cannot import.
#ifndef WHARF_NCURSES_SHIM_H
#define WHARF_NCURSES_SHIM_H
#define NCURSES_WIDECHAR 1
#define _XOPEN_SOURCE_EXTENDED 1
#include <locale.h>
#include <wchar.h>
#include <ncursesw/curses.h>

static inline unsigned int wharf_a_bold(void) { return A_BOLD; }
static inline unsigned int wharf_a_underline(void) { return A_UNDERLINE; }
static inline unsigned int wharf_a_reverse(void) { return A_REVERSE; }
static inline unsigned int wharf_a_normal(void) { return A_NORMAL; }
static inline WINDOW *wharf_stdscr(void) { return stdscr; }
static inline int wharf_colors(void) { return COLORS; }
static inline int wharf_color_pairs(void) { return COLOR_PAIRS; }
static inline int wharf_lines(void) { return LINES; }
static inline int wharf_cols(void) { return COLS; }
#endif
