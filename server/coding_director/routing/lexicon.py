"""The router's curated topic lexicon: words of mathematical work versus everyday programming.

Prior knowledge the corpus cannot cover word by word. Each topic is one feature of the learned
router (:mod:`coding_director.routing.features`: the log of its hit count). Entries are
whitespace-separated; ``_`` joins the words of a phrase (two or three words), a trailing ``*``
matches any single word with that prefix. The first group is mathematical work (the boundary of
``routing/README.md``), the second everyday programming. Phrases of :data:`STOP_PHRASES` are read
as one everyday word before counting ("regression test", "proof of concept", "Math.max").
"""

from __future__ import annotations

import functools
import re

MATH_TOPICS: dict[str, str] = {
    "graph": "dijkstra* bellman* floyd* warshall kruskal* prim prim's tarjan* kosaraju shortest_path "
    "shortest_paths shortest_route spanning_tree mst topolog* bipartite max_flow maximum_flow min_cut "
    "edmonds karp hopcroft dag graph graphs vertex vertices edge edges bfs dfs breadth_first depth_first "
    "lowest_common_ancestor lca cycle cycles a-star pathfinding eulerian hamiltonian strongly_connected "
    "articulation bridges matching flow_network adjacency topological_order dependency_order depends_on "
    "detect_cycles has_a_loop reachable connected_components all_pairs hops path_between route_between "
    "dijkstra's kruskal's prim's_algorithm spfa johnson's ford-fulkerson dinic* push-relabel "
    "min-cost_flow minimum_cut vertex_cover independent_set clique* chromatic graph_coloring travelling "
    "traveling salesman tree_diameter centroid_decomposition heavy-light euler_tour maze mazes grid_path "
    "a_star",
    "dp_search": "dynamic_programming dp memoi* knapsack subsequence edit_distance levenshtein backtrack* "
    "greedy divide_and_conquer binary_search quickselect recurrence n-queens sudoku coin_change "
    "rod_cutting lis lcs tsp travelling_salesman traveling_salesman bitmask kmp rabin-karp manacher* "
    "suffix_array suffix_tree sliding_window two_pointers minimax alpha-beta branch_and_bound "
    "meet_in_the_middle tabulation longest_common longest_increasing subarray kadane hanoi "
    "permutations_of set_cover exact_cover flood_fill visits_every every_cell word_wrap "
    "text_justification interval_scheduling activity_selection perms anagram* palindrom* knapsack's "
    "subset_sum partition_problem matrix_chain optimal_substructure overlapping_subproblems top-down "
    "bottom-up memo longest_palindromic rolling_hash z-function aho-corasick boyer-moore ternary_search "
    "exponential_search interpolation_search radix_sort counting_sort bucket_sort heapsort mergesort "
    "merge_sort quicksort quick_sort insertion_sort bubble_sort timsort stable_sort sorting_algorithm* "
    "bin_packing job_scheduling weighted_interval",
    "complexity": "complexity asymptotic* big-o big_o big-theta amortiz* invariant* np-hard np-complete "
    "lower_bound worst_case log_n quadratic linear_time constant_time polynomial_time exponential_time "
    "master_theorem runtime_analysis time_complexity space_complexity",
    "structures": "heap heaps priority_queue trie segment_tree fenwick union-find union_find disjoint_set "
    "red-black avl skip_list bloom_filter hyperloglog interval_tree binary_lifting splay b-tree treap "
    "kd-tree quadtree octree count-min sparse_table monotonic_stack binary_tree bst",
    "combinatorics": "permutation* combination* combinatori* subset subsets choose ncr factorial* "
    "binomial* catalan stirling derangement* partitions pigeonhole lattice_paths counting how_many_ways "
    "inclusion-exclusion arrangements",
    "number_theory": "prime primes primality sieve gcd lcm modular modulo mod_p divisor* congruen* "
    "euclid* fibonacci fib collatz perfect_numbers amicable totient chinese_remainder miller-rabin luhn "
    "coprime modpow modular_inverse fermat diophantine digits_of",
    "probability": "probabilit* odds chance chances likely expected random_walk dice die coin_flip "
    "coin_flips cards poker lottery raffle monty_hall bayes* birthday gambler* markov monte_carlo "
    "stochastic entropy expectation conditional independent bernoulli geometric_distribution martingale* "
    "brownian wiener poisson_process at_least_one on_average expected_number chance_of odds_of gacha "
    "drop_rate loot_odds random_variable* coupon_collector stochastic* expected_value variance_of "
    "bernoulli* binomial_distribution geometric_series hypergeometric negative_binomial "
    "exponential_distribution gamma_distribution beta_distribution uniform_distribution fair_coin "
    "fair_dice monte-carlo reservoir_sampling rejection_sampling importance_sampling mcmc gibbs "
    "metropolis*",
    "statistics": "statistic* distribution distributions gaussian normal_distribution poisson variance "
    "deviation stddev std mean median mode quantile* percentile* regression correlation covariance "
    "hypothesis p-value p-values p_value t-test chi-squared chi-square anova confidence_interval "
    "bootstrap sampl* estimat* likelihood z-score outlier* kalman anomal* forecast* seasonal histogram "
    "kernel_density a/b power_analysis linreg ols mle bayesian posterior prior significance significant "
    "mann-whitney wilcoxon kolmogorov q-q heteroscedastic* autocorrelation arima kurtosis skew* "
    "weighted_average moving_average sample_size margin_of_error statistically confidence_band "
    "prediction_interval effect_size lift retention_curve survival_analysis censor* cohort_analysis "
    "median_absolute_deviation interquartile trimmed_mean winsoriz* pearson spearman kendall r-squared "
    "rmse mse mae residual* homoscedastic* normality shapiro t_test z_test f_test chi2 welch bonferroni "
    "false_discovery fdr multiple_comparisons kaplan-meier cox logit probit glm mixed_model ridge lasso "
    "elastic_net time_series stationarity arma sarima exponential_smoothing holt-winters seasonality "
    "detrend*",
    "linear_algebra": "matrix matrices eigen* determinant inverse invert linear_algebra linear_system "
    "vector vectors dot_product cross_product svd pca decomposition orthogonal* gram-schmidt householder "
    "cholesky transpose einsum broadcasting matmul outer_product rank_of singular_matrix singular_value "
    "singular_values positive_definite semi-definite condition_number least-squares lstsq eigenvalue* "
    "eigenvector* eigendecomposition nullspace null_space kernel_of orthonormal unitary hermitian "
    "symmetric_matrix sparse_matrix tridiagonal diagonaliz* gaussian_elimination row_reduction rref "
    "pseudo-inverse pseudoinverse moore-penrose frobenius norm_of matrix_multiplication strassen "
    "kronecker hadamard tensor_product",
    "calculus_numeric": "integral integrals integrate integration derivative* differentia* "
    "gradient_descent gradient jacobian hessian ode odes pde pdes runge-kutta rk4 euler_method newton "
    "newton-raphson bisection interpolat* spline* fourier fft dft convolution numerical* "
    "finite_difference quadrature simpson* trapezoid* taylor series converge* diverge* kahan stiff "
    "root_finding limit limits backprop* chain_rule floating-point_error precision_loss "
    "catastrophic_cancellation fsum ieee_754 floating-point mantissa ulp binary_fractions float32_error "
    "underflow overflow_in low_pass high_pass biquad butterworth autocorrelation pitch_detection decibel* "
    "rms wavelet* sampling_rate nyquist aliasing stability_of step_size antiderivative partial_derivative "
    "partial_derivatives divergence curl laplacian differential_equation* boundary_value initial_value "
    "crank-nicolson implicit_euler explicit_euler adams-bashforth verlet leapfrog symplectic "
    "gauss-legendre gaussian_quadrature monte_carlo_integration secant regula_falsi brent fixed_point "
    "newton's lagrange_interpolation chebyshev legendre numerical_stability round-off roundoff "
    "truncation_error machine_epsilon convolution_theorem laplace_transform z-transform",
    "optimisation": "optimi* minimi* maximi* simplex linear_programming convex annealing lagrange* "
    "objective hungarian assignment_problem least_squares curve_fit lp ilp integer_programming "
    "genetic_algorithm bin_packing scheduling_problem fewest cheapest minimal optimal* as_few as_close "
    "minimum_number maximum_number least_total pid pid_controller anti_windup overshoot control_loop "
    "set_point gradient_ascent stochastic_gradient sgd line_search quasi-newton bfgs l-bfgs nelder-mead "
    "conjugate_gradient kkt lagrangian integer_linear mixed_integer milp branch-and-bound "
    "knapsack_problem minimax_regret pareto multi-objective local_search hill_climbing tabu_search "
    "particle_swarm evolutionary",
    "geometry": "geometr* triangle* polygon* circle* sphere* angle angles area_of volume_of distance "
    "haversine great-circle rotation quaternion* trigonometr* sin cos tan atan2 hypotenuse pythagor* "
    "convex_hull centroid intersection bezier barycentric polar_coordinates collision_detection "
    "bounding_box perpendicular normal_vector lerp shoelace ray_tracing raycast* voronoi delaunay affine "
    "homography shadowcasting raycasting line_of_sight dead_reckoning bearing_between compass_bearing "
    "oklch oklab hsv hsl delta_e gamma_correction srgb linear_rgb color_space colour_space easing "
    "ease-out-cubic as_a_function_of function_of_t interpolate euclidean manhattan chebyshev_distance "
    "cosine_distance great_circle vincenty geodesic* rotation_matrix transformation_matrix "
    "homogeneous_coordinates projective perspective_projection cross_product triangulation tessellat* "
    "signed_distance sdf ray-sphere ray-triangle point_in_polygon winding_number arc_length curvature "
    "tangent_line slerp euler_angles gimbal quaternions cartesian spherical_coordinates cylindrical",
    "formula": "formula* equation* theorem* proof proofs prove derive derivation closed_form sum_of "
    "solve_for math maths mathemati* calculus algebra* arithmetic exponent* logarithm* log_base sqrt "
    "square_root pi polynomial* quadratic_equation recurrence_relation induction pumping_lemma "
    "halting_problem godel* turing_machine regular_languages context-free lambda_calculus irrational* "
    "rational_numbers real_numbers infinitely lemma corollary axiom* conjecture induction_proof "
    "pigeonhole_principle contradiction closed-form sum_of_squares arithmetic_series "
    "geometric_progression exponentials inequality inequalities cauchy-schwarz jensen asymptotically "
    "bijection injective surjective set_theory boolean_algebra graph_theory number_theory group_theory "
    "field_theory",
    "finance_physics": "interest compound* amortization amortisation annuity perpetuity npv irr xirr cagr "
    "black-scholes black_scholes option_pricing greeks volatility portfolio sharpe kelly yield bond bonds "
    "mortgage loan depreciation value_at_risk elo physics velocity acceleration orbit* projectile "
    "momentum inertia doppler ohm's kinematic* gravity friction damped oscillator pendulum present_value "
    "future_value discount_rate payback break-even apr torque spring damping oscillat* kinetic "
    "potential_energy trajectory ballistic* drag_coefficient vo2 calories_burned amortize amortise "
    "interest_rate effective_annual nominal_rate discounted_cash_flow dcf wacc capm duration_of "
    "convexity_of yield_to_maturity ytm option_greeks delta_hedging implied_volatility binomial_tree "
    "monte_carlo_pricing expected_shortfall drawdown newtonian kinematics thermodynamics heat_equation "
    "wave_equation fluid navier-stokes electric_field magnetic resistor* capacitor* inductance rlc",
    "objective": "fewest least minimum minimal minimise minimize minimising minimizing maximum maximal maximise "
    "maximize maximising maximizing shortest cheapest optimal optimally lowest highest smallest largest longest "
    "best_combination as_few as_many as_little as_much as_early as_close as_even as_evenly evenly "
    "least_total least_waste least_cost most_talks most_value",
    "constraint": "so_that such_that no_two at_most at_least exactly_once every_pair all_pairs don't_overlap "
    "non-overlapping overlap overlapping overlaps within_budget subject_to depends_on dependencies_first "
    "before_its after_the_ones conflicts_with never_both covers_all covers_every",
    "counting": "how_many_ways number_of_ways how_many_different distinct_ways distinct_paths distinct_routes "
    "count_the_number number_of_distinct how_many_orders how_many_combinations",
    "numeric_libs": "numpy np scipy sympy statsmodels torch linalg mpmath networkx ndarray softmax "
    "sigmoid cross_entropy logits loss_function backpropagation regularis* regulariz* learning_rate "
    "cosine_similarity k-means kmeans clustering svm knn nearest_neighbour nearest_neighbor autograd "
    "tensor tensors eigen3 armadillo gonum nalgebra ndarray-linalg breeze commons-math mathnet pymc stan",
}
GENERAL_TOPICS: dict[str, str] = {
    "frontend": "css html dom react vue angular svelte component* button* layout flexbox flex grid_layout "
    "tailwind navbar modal hover animation* gradient_background linear-gradient radial-gradient font* "
    "responsive ui ux theme dark_mode jsx tsx scss sass webpage page pages form forms dropdown tooltip "
    "svg canvas_element viewport scroll* sidebar chart chart.js recharts line_graph bar_chart dashboard "
    "graph_panel",
    "backend": "django flask fastapi express rails laravel spring endpoint* api apis rest graphql grpc "
    "http https cors jwt oauth* login auth* session* cookie* middleware webhook* websocket* server "
    "request response nestjs gin actix axum rate_limit* proxy",
    "data_store": "sql select join group_by postgres* mysql sqlite mongo* redis kafka rabbitmq queue "
    "database* schema* migration* index orm query queries table column row rows prisma sqlalchemy "
    "elasticsearch dynamodb cassandra transaction* vector_database vector_db pgvector graph_database",
    "devops": "docker* compose kubernetes k8s kubectl helm nginx apache deploy* ci cd pipeline* github "
    "gitlab actions terraform ansible aws azure gcp lambda systemd cron ssh linux ubuntu debian alpine "
    "distribution distro container* pod pods ingress vercel heroku prometheus grafana monitoring alert* "
    "dns ssl tls certificate* firewall matrix_build build_matrix strategy_matrix",
    "tooling": "git npm pip yarn cargo gradle maven webpack vite eslint prettier ruff mypy install* "
    "config* yaml toml json env venv package* version* upgrade* vscode vim emacs ide makefile cmake "
    "dependenc* build lockfile poetry conda",
    "testing_docs": "test tests testing pytest jest vitest junit rspec cypress playwright unit mock* "
    "fixture* regression_test regression_tests snapshot coverage docstring* readme docs documentation "
    "comment comments jsdoc javadoc changelog proof_of_concept poc e2e",
    "errors": "error errors exception* traceback stack_trace crash* bug bugs null undefined segfault "
    "panic* warning* fails fail failing broken not_working doesn't_work permission_denied not_found "
    "timeout leak deadlock hang* hangs nullpointerexception typeerror keyerror importerror "
    "modulenotfounderror attributeerror valueerror indexerror 404 500 cors_error heap_dump heap_size "
    "heap_memory out_of_memory oom memory_leak",
    "code_craft": "refactor* rename clean_up cleanup simplify extract pattern class interface type module "
    "import async await promise* callback* thread* lint* style idiomatic readable generic* inheritance "
    "dependency_injection singleton",
    "text_io": "file files folder* directory path upload* download* email* csv excel spreadsheet sheets "
    "log logs logging print string strings regex parse* serializ* encode decode base64 uuid timestamp* "
    "date dates timezone currency decimal decimals round rounding percent* percentage template* display "
    "format* pdf image* resize thumbnail* unicode utf-8",
}
MATH_TOPIC_NAMES = tuple(MATH_TOPICS)
TOPIC_NAMES = (*MATH_TOPICS, *GENERAL_TOPICS)
N_MATH_TOPICS = len(MATH_TOPICS)
N_TOPICS = len(TOPIC_NAMES)

#: Phrases read as one everyday word before the topic count.
STOP_PHRASES = re.compile(
    r"\b(?:proof of concept|regression tests?|linear-gradient|radial-gradient|math\.\w+)\b", re.IGNORECASE
)
#: A part of each phrase of :data:`STOP_PHRASES` (in letters that have no other case forms under
#: ``re.IGNORECASE``, unlike ``s``, ``k`` and ``i``): text holding none of them is not searched.
_STOP_HINTS = ("proof of concept", "regre", "-grad", "math.")
TOKEN_RE = re.compile(r"[a-z0-9/_]+(?:['\-][a-z0-9]+)*")


def _compile() -> tuple[dict[str, tuple[int, ...]], tuple[tuple[str, int], ...], frozenset[str]]:
    exact: dict[str, set[int]] = {}
    prefixes: list[tuple[str, int]] = []
    for index, words in enumerate((*MATH_TOPICS.values(), *GENERAL_TOPICS.values())):
        for entry in words.split():
            if entry.endswith("*") and len(entry) > 2:
                prefixes.append((entry[:-1], index))
            else:
                exact.setdefault(entry, set()).add(index)
    heads = frozenset(key.split("_")[0] for key in exact if "_" in key)
    return {k: tuple(sorted(v)) for k, v in exact.items()}, tuple(prefixes), heads


_EXACT, _PREFIXES, _PHRASE_HEADS = _compile()


def _prefix_table() -> tuple[dict[str, tuple[int, ...]], int]:
    table: dict[str, set[int]] = {}
    for prefix, index in _PREFIXES:
        table.setdefault(prefix, set()).add(index)
    return {k: tuple(sorted(v)) for k, v in table.items()}, min(len(p) for p, _ in _PREFIXES)


#: Prefix entry -> its topics, and the shortest prefix: a word's prefixes are looked up one by one
#: (a few dict lookups instead of testing all 160 prefixes: 21 us -> about 1 us for a new word).
_PREFIX_TOPICS, _MIN_PREFIX = _prefix_table()


@functools.lru_cache(maxsize=1 << 16)
def word_topics(word: str) -> tuple[int, ...]:
    """Topic indices of one lower-case word (exact entries, then prefixes), cached."""
    found = set(_EXACT.get(word, ()))
    table = _PREFIX_TOPICS
    for end in range(_MIN_PREFIX, len(word) + 1):
        hit = table.get(word[:end])
        if hit:
            found.update(hit)
    return tuple(sorted(found))


def tokens(text: str, lower: str | None = None) -> list[str]:
    """The lexicon's lower-case tokens of ``text`` after :data:`STOP_PHRASES` (``lower``:
    ``text.lower()`` when the caller has it)."""
    if lower is None:
        lower = text.lower()
    if not any(hint in lower for hint in _STOP_HINTS):
        return TOKEN_RE.findall(lower)
    stripped = STOP_PHRASES.sub(lambda m: " regression_test " if "egression" in m.group(0) else " poc ", text)
    return TOKEN_RE.findall(stripped.lower())


def topic_counts(words: list[str], topics: int = N_TOPICS) -> list[int]:
    """Hits per topic among ``words`` (from :func:`tokens`) and their two- and three-word phrases;
    math topics first. ``topics`` limits the count to the first topics (``N_MATH_TOPICS``: math only)."""
    counts = [0] * N_TOPICS
    for word in words:  # a cached lookup per word costs less than counting them first
        for index in word_topics(word):
            counts[index] += 1
    n = len(words)
    for i, word in enumerate(words):
        if word in _PHRASE_HEADS:
            if i + 1 < n:
                for index in _EXACT.get(f"{word}_{words[i + 1]}", ()):
                    counts[index] += 1
            if i + 2 < n:
                for index in _EXACT.get(f"{word}_{words[i + 1]}_{words[i + 2]}", ()):
                    counts[index] += 1
    return counts[:topics]
