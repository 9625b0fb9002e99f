# Starts IRkernel with the text a run prints going to the kernel's real standard output,
# which Ship reads as it is written (ship/kernel_stdout.py), within the output budget.
#
# Why: IRkernel captures output through `evaluate`, which sinks each top-level expression
# into a textConnection and sends it only when the expression ends. A loop that prints a
# gigabyte held it all in R's memory (the connection grows slower the longer it gets: no
# end within five minutes), and then as one message. Here `evaluate`'s capture is
# replaced by one that sends nothing itself: text reaches Ship live, and Ship keeps the
# budget and stops a flood as it does for every kernel. Output of programs run through
# system() now shows too (it went to the kernel's stdout, unseen, before).
local({
  watchout <- function(debug = FALSE) {
    list(
      get_new = function(plot = FALSE, incomplete_plots = FALSE,
                         text_callback = identity, graphics_callback = identity) {
        # Written before the run's reply, so Ship has it all by the run's end.
        flush_stdout(stdout())
        out <- list()
        if (plot) {
          out$graphics <- plot_snapshot(incomplete_plots)
          if (!is.null(out$graphics)) graphics_callback(out$graphics)
        }
        unname(out)
      },
      pause = function() invisible(NULL),
      unpause = function() invisible(NULL),
      close = function() {
        flush_stdout(stdout())
        character()
      },
      get_con = function() stdout()
    )
  }
  # evaluate's own functions (plot_snapshot) are found from its namespace.
  home <- new.env(parent = asNamespace("evaluate"))
  # Taken now: IRkernel replaces flush.connection with one that calls evaluate's
  # flush_console, which would call get_new again, without end.
  home$flush_stdout <- base::flush.connection
  environment(watchout) <- home
  # Written for Debian's evaluate 0.20; another version's capture is left as it is
  # (its text then comes as IRkernel sends it), and the image's kernel test says so.
  if (identical(names(formals(evaluate:::watchout)), "debug")) {
    utils::assignInNamespace("watchout", watchout, "evaluate")
  } else {
    message("ship: evaluate ", utils::packageVersion("evaluate"),
            " is not the version Ship knows; R's output is captured as IRkernel does")
  }
})
# The forms a value is shown in: text, Markdown (a data frame as a Markdown table, the
# form a run's result keeps: rich_output.py prefers Markdown to HTML), and pictures.
# IRkernel's default adds HTML and LaTeX forms of every value that a result never keeps,
# which cost a warm `1+1` 2 to 3 ms of its 10 to 12 (measured); display_html() and
# display_latex() still send theirs.
options(jupyter.display_mimetypes = c(
  "text/plain", "text/markdown", "image/png", "image/jpeg", "image/svg+xml", "application/json"
))
IRkernel::main()
