;;; e2e.el --- headless end-to-end test of asynclint with eglot  -*- lexical-binding: t; -*-
;; Opens a fixture, waits for asynclint's diagnostic through flymake, requests code actions, applies the preferred
;; quick fix, saves, and checks the file on disk. Run as
;;   ASYNCLINT_BIN=... ASYNCLINT_FILE=... emacs -q --batch -l editors/emacs/test/e2e.el
;; Exits 0 on success, 1 with a message otherwise.
(require 'eglot)
(require 'flymake)

(defun asynclint-e2e-fail (format-string &rest arguments)
  (princ (concat "FAIL: " (apply #'format format-string arguments) "\n") #'external-debugging-output)
  (kill-emacs 1))

(defun asynclint-e2e-wait (predicate seconds)
  "Pump process output until PREDICATE holds or SECONDS pass; return PREDICATE's last value."
  (let ((deadline (+ (float-time) seconds))
        (value nil))
    (while (and (not (setq value (funcall predicate))) (< (float-time) deadline))
      (accept-process-output nil 0.1))
    value))

(condition-case failure
    (let ((binary (or (getenv "ASYNCLINT_BIN") (asynclint-e2e-fail "ASYNCLINT_BIN is not set")))
          (file (or (getenv "ASYNCLINT_FILE") (asynclint-e2e-fail "ASYNCLINT_FILE is not set"))))
      ;; The same snippet editors/README.md documents, with the binary under test.
      (add-to-list 'eglot-server-programs `(python-mode . (,binary "server")))
      (find-file file)
      (python-mode)
      (apply #'eglot (eglot--guess-contact))
      (unless (asynclint-e2e-wait (lambda () (eglot-current-server)) 30)
        (asynclint-e2e-fail "eglot did not connect to asynclint"))
      (let ((diagnostic
             (asynclint-e2e-wait
              (lambda ()
                (cl-find-if (lambda (diagnostic) (string-match-p "AL101" (flymake-diagnostic-text diagnostic)))
                            (flymake-diagnostics (point-min) (point-max))))
              30)))
        (unless diagnostic
          (asynclint-e2e-fail "no AL101 diagnostic; flymake has %S" (flymake-diagnostics (point-min) (point-max))))
        (let* ((start (flymake-diagnostic-beg diagnostic))
               (actions (eglot-code-actions start start))
               (preferred (cl-find-if (lambda (action) (eq (plist-get action :isPreferred) t)) actions)))
          (unless preferred
            (asynclint-e2e-fail "no preferred quick fix among %S" actions))
          (eglot--apply-workspace-edit (plist-get preferred :edit))
          (save-buffer)
          (let ((saved (with-temp-buffer (insert-file-contents file) (buffer-string))))
            (unless (and (string-match-p (regexp-quote "await asyncio.sleep(1)") saved)
                         (string-match-p "^import asyncio$" saved))
              (asynclint-e2e-fail "the file on disk was not fixed:\n%s" saved)))
          (princ (format "PASS: Emacs %s eglot: %s\n" emacs-version (plist-get preferred :title)))
          (ignore-errors (eglot-shutdown (eglot-current-server)))
          (kill-emacs 0))))
  (error (asynclint-e2e-fail "%S" failure)))
