// The IIN check digit, checked as one types (the national algorithm, as shared/iin.py has it).
(function () {
  "use strict";
  var FIRST = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  var SECOND = [3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2];
  function weigh(digits, weights) {
    var total = 0;
    for (var i = 0; i < 11; i++) { total += digits[i] * weights[i]; }
    return total % 11;
  }
  function valid(iin) {
    if (!/^[0-9]{12}$/.test(iin)) { return false; }
    var month = +iin.slice(2, 4), day = +iin.slice(4, 6);
    if (month < 1 || month > 12 || day < 1 || day > 31) { return false; }
    var digits = iin.split("").map(Number);
    var check = weigh(digits, FIRST);
    if (check === 10) {
      check = weigh(digits, SECOND);
      if (check === 10) { return false; }
    }
    return check === digits[11];
  }
  function watch(input) {
    var live = document.getElementById("iin-live");
    function say() {
      var value = input.value.trim();
      if (!value) { live.textContent = ""; input.removeAttribute("aria-invalid"); return; }
      if (value.length < 12) { live.textContent = input.dataset.msgShort; return; }
      var ok = valid(value);
      live.textContent = ok ? input.dataset.msgOk : input.dataset.msgBad;
      live.className = ok ? "hint ok-text" : "error-text";
      if (ok) { input.removeAttribute("aria-invalid"); } else { input.setAttribute("aria-invalid", "true"); }
    }
    input.addEventListener("input", say);
    say();
  }
  document.addEventListener("DOMContentLoaded", function () {
    var input = document.getElementById("f-iin");
    if (input) { watch(input); }
  });
})();
