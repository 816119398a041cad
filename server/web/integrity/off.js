// The integrity page of a server with no report category configured: says so in the
// reader's language and offers nothing to fill in (a report could go nowhere).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  window.tarmimI18n.switcher(document.getElementById("lang"));
});
