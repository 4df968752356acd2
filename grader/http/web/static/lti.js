// LTI pages: send the Deep Linking response to the platform at once, and tell a platform that opened
// the Dynamic Registration page that it is done (the 1EdTech close message).
(function () {
  "use strict";
  var form = document.getElementById("lti-autosubmit");
  if (form) {
    form.submit();
  }
  if (document.getElementById("lti-close")) {
    var target = window.opener || (window.parent !== window ? window.parent : null);
    if (target) {
      target.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
    }
  }
})();
